"""The built-in digits dataset and the cached, deterministically trained digits-cnn."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from perfpilot.artifacts import (
    atomic_write_bytes,
    atomic_write_text,
    cache_dir,
    file_lock,
    sha256_file,
)
from perfpilot.tasks.digits import model as digits

MANIFEST_SCHEMA = 1


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
    folder = cache_dir() / "models" / name / recipe.replace("/", "-")
    path, manifest = folder / filename, folder / "manifest.json"
    with file_lock(folder.parent / f".{name}.lock"):
        if manifest.exists() and path.exists():
            if json.loads(manifest.read_text()).get("sha256") == sha256_file(path):
                return path
            print(
                f"perfpilot: cached {name} does not match its manifest; rebuilding", file=sys.stderr
            )
            manifest.unlink()
        start = time.monotonic()
        data = build()
        atomic_write_bytes(path, data)
        record = {
            "schema_version": MANIFEST_SCHEMA,
            "artifact": name,
            "recipe": recipe,
            "source": "generated locally by perfpilot",
            "sha256": sha256_file(path),
            "size": len(data),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - start, 2),
        }
        atomic_write_text(manifest, json.dumps(record, indent=2) + "\n")
        return path


def ensure_resnet50_standin() -> Path:
    """The ResNet50 v1.5 stand-in's ONNX file (generated on first use, ~100 MB)."""
    from perfpilot.tasks.imagenet import standin as standins

    return _ensure_built("resnet50-standin", standins.RESNET50_RECIPE, standins.resnet50_onnx_bytes)
