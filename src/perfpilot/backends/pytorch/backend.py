"""PyTorch backend: TorchScript files, and the built-in digits-cnn and ResNet50 v1.5
stand-in from their ONNX weights.

Runs under ``torch.inference_mode``; a module is only read during a forward pass, so
worker threads share one module. fp32 stays fp32 on CUDA too (TF32 is switched off), so
results match the other backends within the contract suite's fp32 tolerance.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from perfpilot.backends.base import Backend
from perfpilot.errors import ModelFileError, UsageError

if TYPE_CHECKING:
    import torch


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__


class PyTorchBackend(Backend):
    name = "pytorch"
    model_suffixes = (".onnx", ".pt", ".pth", ".ts")

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

        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}", "Check --model-path.")
        # TorchScript files are zip archives; ONNX files are protobuf, never zip.
        if zipfile.is_zipfile(path):
            try:
                module: torch.nn.Module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(path), map_location="cpu"
                )
            except Exception as err:  # torch raises RuntimeError with a C++ trace
                raise ModelFileError(
                    f"torch cannot load {path} as TorchScript ({_first_line(err)})",
                    "Save the model with torch.jit.save (torch.save of a module or a "
                    "state dict cannot be run without its Python code).",
                ) from err
            return module
        from perfpilot.backends.pytorch.digits_net import load_digits_cnn
        from perfpilot.backends.pytorch.resnet50_net import load_resnet50_standin

        net: torch.nn.Module | None = load_digits_cnn(path) or load_resnet50_standin(path)
        if net is None:
            raise ModelFileError(
                f"the pytorch backend cannot run {path}: it is neither a TorchScript file "
                "nor a built-in model (digits-cnn, resnet50-standin) in ONNX",
                "Give a .pt/.pth file saved with torch.jit.save, or run ONNX models with "
                "--backend onnxruntime.",
            )
        return net

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

    def close(self) -> None:
        self._module = None
