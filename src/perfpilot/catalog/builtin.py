"""The built-in digits dataset and the cached, deterministically trained digits-cnn."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from perfpilot.artifacts import (
    atomic_write_bytes,
    atomic_write_text,
    cache_dir,
    file_lock,
    sha256_file,
)
from perfpilot.catalog import digits

MANIFEST_SCHEMA = 1


class DigitsDataset:
    """The held-out digits, preprocessed once (360 x 1 x 8 x 8 float32 is 92 KB)."""

    name = "digits-holdout"

    def __init__(self) -> None:
        split = digits.load_split("holdout")
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
    """Return the path of digits-cnn's ONNX file, training it first if not cached.

    The manifest is written last, so a model counts as cached only once complete; a file
    whose hash no longer matches its manifest is rebuilt rather than reused.
    """
    folder = model_dir()
    path = folder / "model.onnx"
    manifest = folder / "manifest.json"
    with file_lock(folder.parent / ".digits-cnn.lock"):
        if manifest.exists() and path.exists():
            recorded = json.loads(manifest.read_text())
            if recorded.get("sha256") == sha256_file(path):
                return path
            print(
                "perfpilot: cached digits-cnn does not match its manifest; rebuilding",
                file=sys.stderr,
            )
            manifest.unlink()
        if log:
            print(
                "perfpilot: training the built-in model digits-cnn (first use only)...",
                file=sys.stderr,
            )
        start = time.monotonic()
        data = digits.to_onnx_bytes(digits.train())
        atomic_write_bytes(path, data)
        record = {
            "schema_version": MANIFEST_SCHEMA,
            "artifact": "digits-cnn",
            "recipe": digits.RECIPE_VERSION,
            "source": "trained locally by perfpilot.catalog.digits",
            "sha256": sha256_file(path),
            "size": len(data),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - start, 2),
        }
        atomic_write_text(manifest, json.dumps(record, indent=2) + "\n")
        return path
