"""The built-in digits dataset and the cached, deterministically trained digits-cnn."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from perfpilot.artifacts import cache_dir
from perfpilot.artifacts.derived import build_once
from perfpilot.tasks.digits import model as digits


class DigitsDataset:
    """The held-out digits, preprocessed once (360 x 1 x 8 x 8 float32 is 92 KB)."""

    name = "digits-holdout"

    def __init__(self, size: int | None = None) -> None:
        split = digits.load_split("holdout")
        if size is not None:
            split = digits.DigitsSplit(split.images[:size], split.labels[:size])
        self._labels = split.labels
        self._data = digits.preprocess(split.images)
        self._sha = split.sha256()
        self.total_count = len(split.labels)
        self.performance_count = self.total_count

    def sha256(self) -> str:
        return self._sha

    def samples(self, indices: np.ndarray) -> np.ndarray:
        """Preprocessed samples for QSL indices, as one contiguous array."""
        out: np.ndarray = self._data[indices]
        return out

    def labels(self) -> np.ndarray:
        return self._labels


def model_dir() -> Path:
    """Where the built model lives; the recipe version is part of the path."""
    return cache_dir() / "models" / "digits-cnn" / digits.RECIPE_VERSION.replace("/", "-")


def ensure_digits_cnn(log: bool = True) -> Path:
    """Return the path of digits-cnn's ONNX file, training it first if not cached."""

    def build() -> bytes:
        if log:
            print(
                "perfpilot: training the built-in model digits-cnn (first use only)...",
                file=sys.stderr,
            )
        return digits.to_onnx_bytes(digits.train())

    return _ensure_built("digits-cnn", digits.RECIPE_VERSION, build)


def _ensure_built(
    name: str, recipe: str, build: Callable[[], bytes], filename: str = "model.onnx"
) -> Path:
    """Build a generated model once into the cache (``filename``: its suffix tells the
    backends its format); a manifest (written last) holds its hash, and a file that no
    longer matches it is rebuilt."""

    def write(tmp: Path) -> dict[str, str]:
        (tmp / filename).write_bytes(build())
        return {"source": "generated locally by perfpilot"}

    folder = cache_dir() / "models" / name / recipe.replace("/", "-")
    return build_once(folder, filename, write, artifact=name, key={"recipe": recipe}).path


def ensure_resnet50_standin() -> Path:
    """The ResNet50 v1.5 stand-in's ONNX file (generated on first use, ~100 MB)."""
    from perfpilot.tasks.imagenet import standin as standins

    return _ensure_built("resnet50-standin", standins.RESNET50_RECIPE, standins.resnet50_onnx_bytes)
