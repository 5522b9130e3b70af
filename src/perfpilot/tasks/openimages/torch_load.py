"""RetinaNet's weights from its official files: the pickled model (read without running
its code) or a state dict, checked key by key, and loaded into :mod:`torch_net`'s
modules (which stay free of file handling)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from perfpilot.errors import ModelFileError
from perfpilot.tasks.openimages.torch_net import (
    ANCHORS_PER_LOCATION,
    IMAGE_SIZE,
    STAGE_STRIDES,
    RetinaNet,
    RetinaNetShape,
)

LAYOUT = (
    "the reference RetinaNet's state dict (backbone.body.conv1.weight, backbone.body."
    "layer1.0.conv1.weight, ..., backbone.fpn.inner_blocks.0.weight, ..., head."
    "classification_head.cls_logits.weight, head.regression_head.bbox_reg.weight)"
)

HINT = (
    "Give the official resnext50_32x4d_fpn.pth (a pickled model: its tensors are read "
    "without its code), the training checkpoint retinanet_model_10.pth, or a state dict of "
    "the reference model (torch.save(model.state_dict(), path)); see docs/usage.md."
)

_PREFIXES = (
    "backbone.body.",
    "backbone.fpn.",
    "head.classification_head.",
    "head.regression_head.",
)


def _strip(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keys without DistributedDataParallel's ``module.`` prefix."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def is_retinanet(state: Mapping[str, torch.Tensor]) -> bool:
    """True when ``state`` has the reference RetinaNet's key names."""
    return any(k.startswith(_PREFIXES) for k in _strip(state))


def retinanet_shape(state: Mapping[str, torch.Tensor]) -> RetinaNetShape:
    """Depth, widths, groups and classes from a RetinaNet state dict's shapes; ValueError
    naming what does not fit."""
    state = _strip(state)
    body, fpn, head = "backbone.body.", "backbone.fpn.", "head."

    def get(key: str) -> torch.Tensor:
        if key not in state:
            raise ValueError(f"it has no {key}")
        return state[key]

    widths, outs, blocks, groups = [], [], [], set()
    for number in range(1, len(STAGE_STRIDES) + 1):
        count = 0
        while f"{body}layer{number}.{count}.conv1.weight" in state:
            count += 1
        first = f"{body}layer{number}.0"
        width = int(get(f"{first}.conv1.weight").shape[0])
        groups.add(width // max(1, int(get(f"{first}.conv2.weight").shape[1])))
        widths.append(width)
        outs.append(int(get(f"{first}.conv3.weight").shape[0]))
        blocks.append(count)
    if len(groups) != 1:
        raise ValueError(f"its stages have different group counts {sorted(groups)}")
    channels = int(get(f"{fpn}inner_blocks.0.weight").shape[0])
    inner = [int(get(f"{fpn}inner_blocks.{i}.weight").shape[1]) for i in range(3)]
    if tuple(inner) != tuple(outs[1:]):
        raise ValueError(f"its FPN takes {inner} channels where stages 2-4 give {outs[1:]}")
    anchors = int(get(f"{head}regression_head.bbox_reg.weight").shape[0]) // 4
    if anchors != ANCHORS_PER_LOCATION:
        raise ValueError(
            f"its regression head has {anchors} anchors a location, not {ANCHORS_PER_LOCATION}"
        )
    cls = int(get(f"{head}classification_head.cls_logits.weight").shape[0])
    if cls % anchors:
        raise ValueError(f"its cls_logits has {cls} outputs, not a multiple of {anchors}")
    return RetinaNetShape(
        stem=int(get(f"{body}conv1.weight").shape[0]),
        widths=tuple(widths),
        outs=tuple(outs),
        blocks=tuple(blocks),
        groups=groups.pop(),
        fpn=channels,
        classes=cls // anchors,
    )


def check_task(
    path: Path,
    shape: RetinaNetShape,
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
) -> None:
    """A ModelFileError unless the task feeds images and expects detections."""
    if len(input_shape) != 3 or input_shape[0] != 3 or output_shape != (-1, 4):
        raise ModelFileError(
            f"{path} ({shape.describe()}) is a detector (images in, boxes, labels and scores "
            f"out); this task's samples are {input_shape}, its outputs {output_shape}",
            "Run it on the OpenImages task (--model retinanet-pytorch).",
        )


def build_retinanet(
    path: Path, state: Mapping[str, torch.Tensor], output_shape: tuple[int, ...] = ()
) -> RetinaNet:
    """The network ``state`` describes, with its tensors (every name and shape checked),
    in eval mode, on the CPU; a ModelFileError naming the first keys that do not fit."""
    state = _strip(state)
    try:
        shape = retinanet_shape(state)
    except ValueError as err:
        raise ModelFileError(f"{path} is not {LAYOUT}: {err}", HINT) from err
    if output_shape:
        check_task(path, shape, (3, *IMAGE_SIZE), output_shape)
    with torch.device("meta"):  # no memory and no random init: the state dict fills it
        net = shape.build()
    expected = net.state_dict()
    # A copy trained with plain BatchNorm2d carries counters inference never reads.
    given = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    from perfpilot.tasks.common.torch_state import key_problems

    problems = key_problems(expected, given)
    if problems:
        raise ModelFileError(
            f"{path} does not fit the network its shapes describe ({shape.describe()}): "
            + "; ".join(problems),
            HINT,
        )
    tensors = {}
    for key, ref in expected.items():
        value = given[key]
        if value.is_floating_point() and value.dtype != ref.dtype:
            value = value.to(ref.dtype)  # e.g. an fp16 copy: run in fp32
        tensors[key] = value.contiguous()
    net.load_state_dict(tensors, strict=True, assign=True)
    net._anchors = {}
    return net.eval()


def check_retinanet(
    path: Path,
    state: Mapping[str, torch.Tensor],
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
) -> None:
    """Before any test: ``state`` must fit the task and the network its shapes describe
    (every key and shape checked; no copy of the tensors is made)."""
    try:
        shape = retinanet_shape(state)
    except ValueError as err:
        raise ModelFileError(f"{path} is not {LAYOUT}: {err}", HINT) from err
    check_task(path, shape, input_shape, output_shape)
    build_retinanet(path, state)


# --- the official file: a pickled model of the reference's classes --------------------
#
# The inference reference loads resnext50_32x4d_fpn.pth with ``torch.load(path,
# weights_only=False)``: it is a whole pickled ``model.retinanet.RetinaNet`` of the training
# repository, which cannot be unpickled without that code (and unpickling it would run
# whatever the pickle names). perfpilot reads it with an unpickler that builds tensors and
# plain containers only: every other class the pickle names becomes an inert placeholder
# that records its state, so no code of the file's choosing runs, and the parameters and
# persistent buffers are collected from the modules' recorded ``_parameters``, ``_buffers``
# and ``_modules``, under the names ``state_dict()`` would give them.

_SAFE_GLOBALS = {
    ("collections", "OrderedDict"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch", "Size"),
    ("torch", "device"),
}

_PY2_NAMES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _Placeholder:
    """Stands for any class the pickle names that is not a tensor or a plain container."""

    _pp_name = "?"
    _pp_state: object

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.__dict__["_pp_state"] = None

    def __setstate__(self, state: object) -> None:
        self.__dict__["_pp_state"] = state


def _placeholder(module: str, name: str) -> type[_Placeholder]:
    return type(name, (_Placeholder,), {"_pp_name": f"{module}.{name}"})


def _restricted_pickle() -> object:
    """A stand-in for the ``pickle`` module, as ``torch.load(pickle_module=...)`` takes."""
    import pickle
    import types

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            module = _PY2_NAMES.get(module, module)  # protocol 2 writes Python 2's names
            if (module, name) in _SAFE_GLOBALS:
                return super().find_class(module, name)
            if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
                return getattr(torch, name)
            return _placeholder(module, name)

    def load(file: object, **kwargs: object) -> object:
        return Unpickler(file, **kwargs).load()  # type: ignore[arg-type]

    namespace = types.ModuleType("perfpilot_restricted_pickle")
    namespace.Unpickler = Unpickler  # type: ignore[attr-defined]
    namespace.load = load  # type: ignore[attr-defined]
    namespace.__dict__.update({k: getattr(pickle, k) for k in ("UnpicklingError",)})
    return namespace


def _module_tensors(obj: object, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """The parameters and persistent buffers of a placeholder module tree, by name."""
    state = obj._pp_state if isinstance(obj, _Placeholder) else None
    if isinstance(state, tuple) and state and isinstance(state[0], dict):
        state = state[0]
    if not isinstance(state, dict):
        return
    skip = state.get("_non_persistent_buffers_set")
    skip = skip if isinstance(skip, (set, frozenset)) else set()
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if torch.is_tensor(value) and name not in skip:
                out[prefix + name] = value.detach()
    for name, child in (state.get("_modules") or {}).items():
        _module_tensors(child, f"{prefix}{name}.", out)


def read_pickled_retinanet(path: Path) -> dict[str, torch.Tensor] | None:
    """The state dict inside a pickled reference RetinaNet (the official
    resnext50_32x4d_fpn.pth), or inside a training checkpoint (``{"model": state dict,
    "optimizer": ..., "args": ...}``, retinanet_model_10.pth); None if ``path`` holds
    neither."""
    import warnings

    try:
        with warnings.catch_warnings():  # legacy files: "Couldn't retrieve source code" of
            warnings.simplefilter("ignore")  # each placeholder, which has none
            obj = torch.load(
                str(path),
                map_location="cpu",
                weights_only=False,  # with the restricted pickle module, never the real one
                pickle_module=_restricted_pickle(),
            )
    except Exception:  # noqa: BLE001 - not a torch file, or a pickle it cannot follow
        return None
    tensors: dict[str, torch.Tensor] = {}
    if isinstance(obj, _Placeholder):
        _module_tensors(obj, "", tensors)
    elif isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        tensors = {str(k): v for k, v in obj["model"].items() if torch.is_tensor(v)}
    return tensors if tensors and is_retinanet(tensors) else None


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """``state_dict.read_state_dict``, and for the reference RetinaNet's files that are not
    plain state dicts (a pickled model, a training checkpoint) their tensors; the original
    error for any other file."""
    from perfpilot.tasks.common import torch_state as state_dict

    try:
        return state_dict.read_state_dict(path)
    except ModelFileError:
        found = read_pickled_retinanet(path)
        if found is None:
            raise
        return found
