"""DLRM-v2 on the engine: unpack Criteo samples into the model's two inputs, and answer
each LoadGen sample with its rows' (prediction, label) pairs.

A Criteo LoadGen sample is a group of 100-700 rows, packed by
:class:`perfpilot.tasks.criteo.dataset.CriteoDataset` as one int32 [rows, 228] array; a batch is
an object array of them. :class:`CriteoInputs` concatenates a batch's rows, runs them as
one inference and splits the result back per sample. The response of a sample is float32
``prediction, label`` per row, as the reference SUT packs it (``accuracy-dlrm.py`` reads
it with its default ``--dtype float32`` and no ``--day-23-file``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from perfpilot.tasks.adapter import Runtime, TaskAdapter, Wrapper
from perfpilot.tasks.criteo.dataset import unpack_rows
from perfpilot.tasks.criteo.standin import DENSE_INPUT, SPARSE_INPUT


class CriteoInputs(Wrapper):
    """Feeds ``dense_features`` float32 [rows, 13] and ``sparse_features`` int64
    [rows, 214] from packed samples; ``predict`` returns one float32 [rows_i, 2] array
    (probability, label) per sample. A backend without a model (null) gets the dense
    features through ``predict`` and answers for the rows without inference."""

    def __init__(self, inner: Runtime, names: Sequence[str] = (DENSE_INPUT, SPARSE_INPUT)) -> None:
        super().__init__(inner)
        self.dense_name, self.sparse_name = (
            tuple(names) if len(names) == 2 else (DENSE_INPUT, SPARSE_INPUT)
        )

    def predict(self, batch: np.ndarray) -> Any:
        parts = list(batch)
        lengths = [len(p) for p in parts]
        dense, ids, labels = unpack_rows(np.concatenate(parts) if len(parts) > 1 else parts[0])
        if self.inner.needs_model:
            outputs = self.inner.predict_named({self.dense_name: dense, self.sparse_name: ids})
            scores = np.asarray(outputs[0])
        else:
            scores = np.asarray(self.inner.predict(dense))
        if scores.size != len(dense):
            raise ValueError(
                f"the model answered {scores.size} values for {len(dense)} rows; a DLRM "
                "must give one click probability per row ([N, 1] or [N])"
            )
        pairs = np.empty((len(dense), 2), dtype=np.float32)
        pairs[:, 0] = scores.reshape(-1)
        pairs[:, 1] = labels
        return np.split(pairs, np.cumsum(lengths)[:-1])


def dlrm_responses(outputs: Sequence[np.ndarray], idx: np.ndarray) -> list[np.ndarray]:
    """Per-sample responses: the rows' float32 (prediction, label) pairs, flat."""
    if len(outputs) != len(idx):
        raise ValueError(f"{len(outputs)} answers for {len(idx)} samples")
    return [np.ascontiguousarray(part, dtype=np.float32).reshape(-1) for part in outputs]


class CriteoAdapter(TaskAdapter):
    """Criteo: packed rows unpacked into the model's two inputs; each sample's (prediction,
    label) pairs."""

    ragged = True

    def wrap(self, runtime: Runtime) -> Runtime:
        return CriteoInputs(runtime, self.input_names)

    def responses(self, outputs: Any, idx: np.ndarray) -> list[np.ndarray]:
        return dlrm_responses(outputs, idx)
