"""Classification: top-1 accuracy from ``mlperf_log_accuracy.json``, like the MLPerf
ImageNet script:
de-duplicate by ``qsl_idx``, decode the first element of each response, compare with
the label, and print ``accuracy=xx.xxx%, good=N, total=N``; and the adapter that turns a
classifier's outputs into the class index LoadGen logs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from perfpilot.tasks.adapter import TaskAdapter
from perfpilot.tasks.common.accuracy_log import read_accuracy_log
from perfpilot.tasks.spec import ModelSpec


@dataclass(frozen=True)
class AccuracyResult:
    """Accuracy in percent with its counts; ``line()`` is the official text."""

    accuracy: float
    good: int
    total: int

    def line(self) -> str:
        return f"accuracy={self.accuracy:.3f}%, good={self.good}, total={self.total}"


def score_top1(path: Path, labels: np.ndarray, dtype: str = "int32") -> AccuracyResult:
    """Score an accuracy log whose responses start with the predicted class."""
    seen: set[int] = set()
    good = 0
    for record in read_accuracy_log(path):
        idx = int(record["qsl_idx"])  # type: ignore[call-overload]
        if idx in seen:
            continue
        seen.add(idx)
        data = bytes.fromhex(str(record["data"]))
        predicted = int(np.frombuffer(data, dtype=dtype)[0])
        if predicted == int(labels[idx]):
            good += 1
    total = len(seen)
    accuracy = 100.0 * good / total if total else 0.0
    return AccuracyResult(accuracy=accuracy, good=good, total=total)


class _Labelled(Protocol):
    def labels(self) -> np.ndarray: ...


def score_dataset(path: Path, dataset: _Labelled) -> AccuracyResult:
    """The task scorer for classification: top-1 against the dataset's labels."""
    return score_top1(path, dataset.labels())


def argmax_labels(outputs: np.ndarray) -> np.ndarray:
    """Classification post-processing: class index per sample, int32 (4 bytes each)."""
    return np.ascontiguousarray(outputs.reshape(len(outputs), -1).argmax(axis=1).astype(np.int32))


def class_indices(offset: int) -> Callable[[np.ndarray], np.ndarray]:
    """Post-processing for models that output the class (``index``; ``index-1`` is the
    reference's offset -1 for the 1001-class TF/ONNX ResNet50)."""

    def index(outputs: np.ndarray) -> np.ndarray:
        flat = outputs.reshape(len(outputs), -1)
        # Scores instead of an index (the null backend answers zeros of the task's
        # output shape): take their argmax, in the same class space.
        classes = flat[:, 0] if flat.shape[1] == 1 else flat.argmax(axis=1)
        return np.ascontiguousarray(classes.astype(np.int32) + offset)

    return index


class ClassifierAdapter(TaskAdapter):
    """Classifiers: the model's scores (``argmax``) or class (``index``, ``index-1``)
    become one int32 class index per sample."""

    def __init__(self, model: ModelSpec, input_names: tuple[str, ...] = ()) -> None:
        super().__init__(model, input_names)
        kind = model.postprocess
        self._post: Callable[[np.ndarray], np.ndarray]
        if kind == "argmax":
            self._post = argmax_labels
        elif kind in ("index", "index-1"):
            self._post = class_indices(-1 if kind == "index-1" else 0)
        else:
            raise ValueError(f"unknown classifier post-processing {kind!r}")
        # The engine calls this once per batch: the chosen function itself, no extra hop.
        self.postprocess = self._post  # type: ignore[method-assign,assignment]
