"""The RNN-T stand-in's checkpoint, built once into the artifact cache."""

from __future__ import annotations

from pathlib import Path

from perfpilot.tasks.common.builtin import ensure_built
from perfpilot.tasks.librispeech.torch_net import TINY, recipe, standin_checkpoint_bytes


def ensure_rnnt_standin_tiny() -> Path:
    """The small RNN-T stand-in: a torch.save checkpoint in the official key layout with
    small dimensions and seeded random weights (built once into the cache)."""
    return ensure_built("rnnt-standin-tiny", recipe(TINY), standin_checkpoint_bytes, "model.pt")
