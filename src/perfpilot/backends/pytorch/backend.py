"""PyTorch backend: TorchScript files, and any other file through the task's loader
(``BackendConfig.loader``), which builds the task's own torch module: the official state
dicts of ResNet50 v1.5, BERT-large and RetinaNet, RNN-T checkpoints, and the built-in
models from their ONNX weights.

Runs under ``torch.inference_mode``; a module is only read during a forward pass, so
worker threads share one module. fp32 stays fp32 on CUDA too (TF32 is switched off), so
results match the other backends within the contract suite's fp32 tolerance.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from perfpilot.backends.base import Backend, BackendConfig, resolve_loader
from perfpilot.backends.torch_cuda import check_torch_device
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
        check_torch_device(device)

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

        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}", "Check --model-path.")
        # Decided by content, not suffix: artifacts in the store have no suffix.
        if _is_torchscript(path):
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
        if not self.config.loader:
            raise ModelFileError(
                f"the pytorch backend can only run TorchScript files for this task, not {path}",
                "Save the model with torch.jit.save, or run it with --backend onnxruntime.",
            )
        read: Any = resolve_loader(self.config.loader, "read")
        return read(path, self.config.output_shape)  # type: ignore[no-any-return]

    @classmethod
    def check_model(
        cls,
        path: Path,
        input_shape: tuple[int, ...],
        input_dtype: str,
        output_shape: tuple[int, ...],
        loader: str = "",
    ) -> None:
        """Before any test: a file torch wrote must be one the task's loader builds, and fit
        the task (TorchScript and ONNX files are checked when they load)."""
        if not path.is_file():
            return
        if path.suffix.lower() != ".onnx" and not _is_torch_file(path):
            raise ModelFileError(
                f"{path} is not a file torch wrote (neither a torch.save state dict nor a "
                "TorchScript archive)",
                "Give the official state dict, or a model saved with torch.jit.save.",
            )
        if loader and not _is_torchscript(path):
            check = resolve_loader(loader, "check")
            check(path, input_shape, input_dtype, output_shape)

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
        """Every output for named feeds: a network the task built arranges them
        (``arrange_feeds``); a TorchScript module gets them positionally, in order."""
        import torch

        module = self._module
        if module is None:
            raise UsageError("the pytorch backend has no model: call load() first")
        args: list[np.ndarray] | None = None
        if isinstance(module, _ArrangesFeeds):
            args = module.arrange_feeds(feeds)
        elif isinstance(module, torch.jit.ScriptModule):
            args = list(feeds.values())
        if args is None:
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


@runtime_checkable
class _ArrangesFeeds(Protocol):
    """A task's network that takes named feeds in its own order (BERT, RetinaNet)."""

    def arrange_feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None: ...


def _is_torchscript(path: Path) -> bool:
    """A ``torch.jit.save`` archive: a zip with ``code/`` and ``constants.pkl``, which
    ``torch.save`` zips never hold."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _is_torch_file(path: Path) -> bool:
    """A zip (TorchScript or ``torch.save``) or a legacy ``torch.save`` pickle stream."""
    if zipfile.is_zipfile(path):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5
