"""PyTorch backend: TorchScript files; the official state dicts of ResNet50 v1.5
(TorchVision) and BERT-large SQuAD (HF BertForQuestionAnswering), and MLPerf RetinaNet (the
official pickled model's tensors, read without its code, or a state dict), loaded into
perfpilot's own modules; and the built-in digits-cnn and ResNet50 v1.5 stand-in from their
ONNX weights.

Runs under ``torch.inference_mode``; a module is only read during a forward pass, so
worker threads share one module. fp32 stays fp32 on CUDA too (TF32 is switched off), so
results match the other backends within the contract suite's fp32 tolerance.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.errors import ModelFileError, UsageError

if TYPE_CHECKING:
    import torch


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__


class PyTorchConfig(BackendConfig):
    """The pytorch backend's config: the common settings, no options of its own."""


class PyTorchBackend(Backend):
    name = "pytorch"
    config_class = PyTorchConfig
    # .pytorch: BERT's official model.pytorch; .bin: HF's pytorch_model.bin.
    model_suffixes = (".onnx", ".pt", ".pth", ".ts", ".pytorch", ".bin")
    model_formats = ("onnx", "pytorch")

    _module: torch.nn.Module | None = None

    @classmethod
    def version(cls) -> str:
        import torch

        return str(torch.__version__)

    @classmethod
    def check_device(cls, device: str) -> None:
        if device != "cuda":
            return
        import torch

        if not torch.cuda.is_available():
            raise UsageError(
                f"torch {torch.__version__} here cannot use CUDA "
                "(it is a CPU build, or no NVIDIA GPU is visible)",
                "Install a CUDA build of torch (see pytorch.org) on a machine with an "
                "NVIDIA GPU, or use --device cpu.",
            )

    def load(self, model_path: Path | None) -> None:
        import torch

        if model_path is None:
            raise ModelFileError("the pytorch backend needs a model file")
        device = self.config.device
        if device == "cuda":
            self.check_device(device)
            # TF32 would trade fp32 accuracy for speed behind the user's back.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        self._device = torch.device(device)
        self._module = self._read(model_path).to(self._device).eval()

    def _read(self, path: Path) -> torch.nn.Module:
        import torch

        from perfpilot.backends.pytorch import state_dict

        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}", "Check --model-path.")
        # Decided by content, not suffix: artifacts in the store have no suffix.
        if state_dict.is_torch_save(path):
            return self._read_state_dict(path)
        if zipfile.is_zipfile(path):  # TorchScript; ONNX files are protobuf, never zip
            try:
                module: torch.nn.Module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(path), map_location="cpu"
                )
            except Exception as err:  # torch raises RuntimeError with a C++ trace
                raise ModelFileError(
                    f"torch cannot load {path} as TorchScript ({_first_line(err)})",
                    "Save the model with torch.jit.save, or give the official state dict.",
                ) from err
            return module
        from perfpilot.backends.pytorch.digits_net import load_digits_cnn
        from perfpilot.backends.pytorch.resnet50_net import load_resnet50_standin

        net: torch.nn.Module | None = load_digits_cnn(path) or load_resnet50_standin(path)
        if net is None:
            raise ModelFileError(
                f"the pytorch backend cannot run {path}: it is neither a TorchScript file, "
                "nor a ResNet/BERT state dict, nor a built-in model (digits-cnn, "
                "resnet50-standin) in ONNX",
                "Give a file saved with torch.jit.save or the official state dict, or run "
                "ONNX models with --backend onnxruntime.",
            )
        return net

    def _read_state_dict(self, path: Path) -> torch.nn.Module:
        """A ``torch.save`` file: the ResNet or BERT state dict perfpilot recognises by its
        keys (read once: BERT-large is 1.3 GB), else an RNN-T checkpoint, else refused."""
        from perfpilot.backends.pytorch import retinanet_net, state_dict
        from perfpilot.backends.pytorch.rnnt_net import load_rnnt

        state = retinanet_net.read_state(path)  # + RetinaNet's pickled model, no code run
        if retinanet_net.is_retinanet(state):
            return retinanet_net.build_retinanet(path, state, self.config.output_shape)
        if state_dict.kind_of(state) is None and (rnnt := load_rnnt(path)) is not None:
            return rnnt
        found = state_dict.recognise(path, state)  # unknown keys: refused, naming them
        if self.config.output_shape:
            found.check_output(self.config.output_shape)
        return state_dict.build(found, state)

    @classmethod
    def check_model(
        cls,
        path: Path,
        input_shape: tuple[int, ...],
        input_dtype: str,
        output_shape: tuple[int, ...],
    ) -> None:
        """Before any test: a state dict must be one of the networks perfpilot builds, and
        fit the task (TorchScript and ONNX files are checked when they load)."""
        from perfpilot.backends.pytorch import retinanet_net, state_dict
        from perfpilot.backends.pytorch.rnnt_net import check_rnnt

        if not path.is_file():
            return
        if state_dict.is_torch_save(path):
            state = retinanet_net.read_state(path)
            if retinanet_net.is_retinanet(state):
                retinanet_net.check_retinanet(path, state, input_shape, output_shape)
                return
            if state_dict.kind_of(state) is None and check_rnnt(path, input_shape, output_shape):
                return  # RNN-T: built, every key checked, the task's samples are waveforms
            found = state_dict.recognise(path, state)
            found.check_task(input_shape, output_shape)
            state_dict.build(found, state)  # every key and shape checked (no copy: assign)
        elif path.suffix.lower() != ".onnx" and not zipfile.is_zipfile(path):
            raise ModelFileError(
                f"{path} is not a file torch wrote (neither a torch.save state dict nor a "
                "TorchScript archive)",
                "Give the official state dict, or a model saved with torch.jit.save.",
            )

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import torch

        module = self._module
        if module is None:
            raise UsageError("the pytorch backend has no model: call load() first")
        x = torch.from_numpy(np.ascontiguousarray(batch))
        if self._device.type != "cpu":
            x = x.to(self._device)
        with torch.inference_mode():
            out = module(x)
        if isinstance(out, (tuple, list)):  # TorchScript models may return several outputs
            out = out[0]
        result: np.ndarray = out.cpu().numpy()
        # A model that returns its input (or a view of it) would hand the caller's own
        # buffer back; the contract says outputs never alias inputs.
        if np.may_share_memory(result, batch):
            result = result.copy()
        return result

    def predict_named(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """BERT's start and end logits for ``input_ids``, ``input_mask``, ``segment_ids``
        (HF's names ``attention_mask``, ``token_type_ids`` too). A TorchScript module gets
        the feeds as positional arguments, in the order given."""
        import torch

        from perfpilot.backends.pytorch.bert_net import BertForQuestionAnswering
        from perfpilot.backends.pytorch.retinanet_net import RetinaNet

        module = self._module
        if module is None:
            raise UsageError("the pytorch backend has no model: call load() first")
        if isinstance(module, BertForQuestionAnswering):
            args = [_feed(feeds, names) for names in _BERT_INPUTS]
        elif isinstance(module, torch.jit.ScriptModule):
            args = list(feeds.values())
        elif isinstance(module, RetinaNet) and len(feeds) == 1:  # one image: boxes, labels, scores
            args = list(feeds.values())
        else:
            raise UsageError(
                f"the pytorch backend's {type(module).__name__} takes one input, not "
                f"{', '.join(feeds)}",
                "Run this task with a BERT state dict or a TorchScript file.",
            )
        tensors = [torch.from_numpy(np.ascontiguousarray(a)).to(self._device) for a in args]
        with torch.inference_mode():
            out = module(*tensors)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.cpu().numpy() for o in outs]

    def close(self) -> None:
        self._module = None


#: BERT's inputs in the order of its forward(), each with the names that may carry it.
_BERT_INPUTS = (
    ("input_ids",),
    ("input_mask", "attention_mask"),
    ("segment_ids", "token_type_ids"),
)


def _feed(feeds: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    for name in names:
        if name in feeds:
            return feeds[name]
    raise UsageError(
        f"BERT needs an input named {' or '.join(names)}; the task feeds {', '.join(feeds)}",
        "Run it as --model bert-99-pytorch on the SQuAD task.",
    )
