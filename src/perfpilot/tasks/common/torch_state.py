"""Official PyTorch artifacts that are state dicts (``torch.save(model.state_dict())``):
read with ``weights_only=True`` (the file's pickle may only build tensors, never run
code), recognised by their keys and loaded into perfpilot's own modules:

- a TorchVision bottleneck ResNet (``resnet50-19c8e357.pth``: ``conv1.weight``, ``bn1.*``,
  ``layer1.0.conv1.weight``, ..., ``fc.weight``) -> :class:`TvResNet`, logits ``[N, classes]``;
- an HF ``BertForQuestionAnswering`` (``model.pytorch``: ``bert.embeddings.*``,
  ``bert.encoder.layer.N.*``, ``qa_outputs.*``) -> :class:`BertForQuestionAnswering`, start
  and end logits.

A file whose keys or shapes do not fit is refused with the first few keys that differ; it is
never run with a guessed architecture. Imported only when torch is about to be used.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from perfpilot.errors import ModelFileError
from perfpilot.tasks.imagenet.torch_net import TvResNetShape, tv_resnet_shape
from perfpilot.tasks.squad.torch_net import IGNORED_KEYS, BertShape, bert_shape, describe

Kind = Literal["resnet", "bert"]

#: What each kind is, for messages.
LAYOUTS: dict[Kind, str] = {
    "resnet": "a TorchVision ResNet state dict (conv1.weight, bn1.*, layer1.0.conv1.weight, "
    "..., fc.weight)",
    "bert": "an HF BertForQuestionAnswering state dict (bert.embeddings.word_embeddings."
    "weight, ..., bert.encoder.layer.N.attention.self.query.weight, ..., qa_outputs.weight)",
}
_SHOWN = 3  # keys named in a message


def key_problems(
    expected: Mapping[str, torch.Tensor],
    given: Mapping[str, torch.Tensor],
    optional: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """What keeps ``given`` from loading into a module whose state dict is ``expected``:
    missing, unexpected and wrong-shaped keys, the first few of each named."""
    missing = [k for k in expected if k not in given and k not in optional]
    unexpected = [k for k in given if k not in expected]
    mismatched = [
        f"{k} {tuple(given[k].shape)} instead of {tuple(v.shape)}"
        for k, v in expected.items()
        if k in given and given[k].shape != v.shape
    ]
    problems = []
    for label, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("shapes differ", mismatched),
    ):
        if items:
            more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            problems.append(f"{label}: {', '.join(items[:_SHOWN])}{more}")
    return problems


_HINT = (
    "Give the official file (resnet50-19c8e357.pth or BERT's model.pytorch), a state dict "
    "saved the same way (torch.save(model.state_dict(), path)), or a TorchScript file "
    "(torch.jit.save)."
)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__


def is_torchscript(path: Path) -> bool:
    """True for a ``torch.jit.save`` archive: a zip with ``code/`` and ``constants.pkl``,
    which ``torch.save`` zips (``data.pkl``, ``data/``, ``version``) never hold."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def is_torch_save(path: Path) -> bool:
    """True for a file ``torch.save`` wrote: a zip that is not TorchScript (torch >= 1.6),
    or the legacy format, a pickle stream (``0x80`` and its protocol first; files of
    torch < 1.6 such as resnet50-19c8e357.pth). ONNX files are protobuf and start with
    a field tag, never either."""
    if zipfile.is_zipfile(path):
        return not is_torchscript(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save`` file, read with ``weights_only=True``.

    Zip files are memory-mapped (BERT-large is 1.3 GB); a checkpoint that wraps the state
    dict as ``{"state_dict": ...}`` is unwrapped."""
    try:
        obj = torch.load(
            str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
        )
    except Exception as err:  # torch raises pickle, Runtime and Unpickling errors alike
        raise ModelFileError(
            f"torch cannot read {path} as a state dict with weights_only=True ({_first_line(err)})",
            _HINT,
        ) from err
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise ModelFileError(
            f"{path} holds a {type(obj).__name__}, not a state dict (a mapping of names "
            "to tensors)",
            _HINT,
        )
    bad = [str(k) for k, v in obj.items() if not (isinstance(k, str) and torch.is_tensor(v))]
    if bad:
        raise ModelFileError(
            f"{path} is not a state dict: {', '.join(bad[:_SHOWN])} "
            f"{'is not a tensor' if len(bad) == 1 else 'are not tensors'}",
            _HINT,
        )
    return {str(k): v for k, v in obj.items()}


@dataclass(frozen=True)
class StateDictModel:
    """A recognised state dict: its kind and its network's sizes."""

    path: Path
    kind: Kind
    shape: TvResNetShape | BertShape

    def what(self) -> str:
        if isinstance(self.shape, BertShape):
            return f"BERT QA: {describe(self.shape)}"
        blocks = "-".join(str(b) for b in self.shape.blocks)
        return f"ResNet: {blocks} bottlenecks, {self.shape.classes} classes"

    def check_output(self, output_shape: tuple[int, ...]) -> None:
        """:meth:`check_task` where only the task's per-sample output is known (in
        ``load``); the input is then the one this kind takes."""
        seq = output_shape[0] if output_shape else 0
        self.check_task((3, seq) if self.kind == "bert" else (3, 224, 224), output_shape)

    def check_task(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> None:
        """Raise a ModelFileError if the network cannot answer the task's samples."""
        where = f"{self.path} ({self.what()})"
        if isinstance(self.shape, TvResNetShape):
            classes = self.shape.classes
            if len(input_shape) != 3 or input_shape[0] != 3:
                raise ModelFileError(
                    f"{where} takes 3 x H x W images; this task's samples are {input_shape}",
                    "Run it on an ImageNet task (--model resnet50-pytorch).",
                )
            if output_shape != (classes,):
                raise ModelFileError(
                    f"{where} outputs {classes} classes where the task expects {output_shape}",
                    "A TorchVision ResNet50 runs as --model resnet50-pytorch (1000 classes, "
                    "the PyTorch preprocessing); --model resnet50 is the 1001-class "
                    "TF/ONNX model.",
                )
            return
        seq = input_shape[-1] if input_shape else 0
        if len(input_shape) != 2 or input_shape[0] != 3 or output_shape != (seq, 2):
            raise ModelFileError(
                f"{where} takes input_ids, input_mask and segment_ids and answers start and "
                f"end logits; this task's samples are {input_shape}, its outputs "
                f"{output_shape}",
                "Run it on the SQuAD task (--model bert-99-pytorch).",
            )
        if seq > self.shape.positions:
            raise ModelFileError(
                f"{where} has {self.shape.positions} positions, fewer than the task's {seq} tokens",
                "Give a BERT with at least as many position embeddings.",
            )


def kind_of(state: Mapping[str, torch.Tensor]) -> Kind | None:
    """Which network's keys ``state`` has, or None."""
    if "qa_outputs.weight" in state or any(k.startswith("bert.") for k in state):
        return "bert"
    if "conv1.weight" in state or any(k.startswith("layer1.") for k in state):
        return "resnet"
    return None


def recognise(path: Path, state: Mapping[str, torch.Tensor]) -> StateDictModel:
    """Which network ``state`` is for, from its keys; a ModelFileError naming the first
    keys if it is neither."""
    keys = list(state)
    kind = kind_of(state)
    if kind is None:
        raise ModelFileError(
            f"{path} is a state dict perfpilot has no network for (its first keys: "
            f"{', '.join(keys[:_SHOWN])})",
            f"The pytorch backend loads {LAYOUTS['resnet']} or {LAYOUTS['bert']}; other "
            "models need a TorchScript file (torch.jit.save).",
        )
    try:
        shape: TvResNetShape | BertShape = (
            bert_shape(state) if kind == "bert" else tv_resnet_shape(state)
        )
    except ValueError as err:
        raise ModelFileError(f"{path} is not {LAYOUTS[kind]}: {err}", _HINT) from err
    return StateDictModel(path, kind, shape)


def build(found: StateDictModel, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """The network of ``found`` with the tensors of ``state`` (every parameter and buffer
    checked by name and shape first), in eval mode, on the CPU."""
    with torch.device("meta"):  # no memory and no random init: the state dict fills it
        net = found.shape.build()
    expected = net.state_dict()
    given = {k: v for k, v in state.items() if k not in IGNORED_KEYS}
    # Files of torch < 0.4.1 (resnet50-19c8e357.pth) predate BatchNorm's counter, which
    # inference never reads.
    optional = {k for k in expected if k.endswith(".num_batches_tracked")}
    problems = key_problems(expected, given, optional)
    if problems:
        raise ModelFileError(
            f"{found.path} does not fit the network its shapes describe ({found.what()}): "
            + "; ".join(problems),
            f"The pytorch backend loads {LAYOUTS[found.kind]}. {_HINT}",
        )
    tensors = {}
    for key, ref in expected.items():
        value = given.get(key)
        if value is None:  # an optional counter
            value = torch.zeros((), dtype=ref.dtype)
        elif value.is_floating_point() and value.dtype != ref.dtype:
            value = value.to(ref.dtype)  # e.g. an fp16 copy of the weights: run in fp32
        tensors[key] = value.contiguous()  # assign=True keeps the tensor as it is given
    net.load_state_dict(tensors, strict=True, assign=True)
    return net.eval()


def load_state_dict_model(
    path: Path, output_shape: tuple[int, ...] = ()
) -> tuple[StateDictModel, nn.Module]:
    """Read, recognise and build the network of a state dict file; ``output_shape`` (the
    task's per-sample output, when known) must be what the network answers."""
    state = read_state_dict(path)
    found = recognise(path, state)
    if output_shape:
        found.check_output(output_shape)
    return found, build(found, state)
