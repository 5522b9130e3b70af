"""The built-in digits dataset: the held-out split, preprocessed once."""

from __future__ import annotations

import numpy as np

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
