"""The CUDA check of the backends that run on torch (pytorch, transformers)."""

from __future__ import annotations

from perfpilot.errors import UsageError


def check_torch_device(device: str) -> None:
    """A UsageError when ``device`` is cuda and this torch cannot use it."""
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
