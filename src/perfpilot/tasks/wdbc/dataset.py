"""The held-out fifth of scikit-learn's breast-cancer table, standardised with the
statistics of the other four fifths (the samples the model was fitted on)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

HOLDOUT_EVERY = 5  # every fifth row is held out: a split that never changes


@dataclass(frozen=True)
class Split:
    """Standardised float32 features and int64 labels (1: benign, 0: malignant)."""

    features: np.ndarray
    labels: np.ndarray


def load_splits() -> tuple[Split, Split]:
    """(train, holdout), both standardised with the training split's mean and spread."""
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer()
    x = np.asarray(table.data, dtype=np.float64)
    y = np.asarray(table.target, dtype=np.int64)
    held = np.arange(len(y)) % HOLDOUT_EVERY == 0
    mean, std = x[~held].mean(axis=0), x[~held].std(axis=0)
    z = ((x - mean) / std).astype(np.float32)
    return Split(z[~held], y[~held]), Split(z[held], y[held])


class WdbcDataset:
    """The held-out samples, preprocessed once (114 x 30 float32 is 14 KB)."""

    name = "wdbc-holdout"

    def __init__(self, size: int | None = None) -> None:
        holdout = load_splits()[1]
        self._data = np.ascontiguousarray(holdout.features[:size])
        self._labels = holdout.labels[:size]
        digest = hashlib.sha256(self._data.tobytes() + self._labels.tobytes())
        self._sha = digest.hexdigest()
        self.total_count = len(self._labels)
        self.performance_count = self.total_count

    def sha256(self) -> str:
        return self._sha

    def samples(self, indices: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._data[indices]
        return out

    def labels(self) -> np.ndarray:
        return self._labels
