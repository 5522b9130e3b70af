"""One table of tasks and one of models. Specs name code as ``"module:object"`` strings,
so reading the catalog imports no framework."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from perfpilot.errors import UsageError


class Dataset(Protocol):
    """What the engine needs of a dataset: sizes, identity and preprocessed samples."""

    name: str
    total_count: int
    performance_count: int

    def sha256(self) -> str: ...

    def samples(self, indices: np.ndarray) -> np.ndarray: ...

    def labels(self) -> np.ndarray: ...


@dataclass(frozen=True)
class TaskSpec:
    """A task: its input and output signature, dataset, metric and target."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    input_dtype: str
    output_shape: tuple[int, ...]
    dataset: str  # "module:callable" returning a Dataset
    metric: str
    accuracy_target: float  # percent
    server_latency_ms: int  # the Server latency bound LoadGen enforces

    def load_dataset(self) -> Dataset:
        """Import and build the task's dataset."""
        obj: Any = _resolve(self.dataset)
        return obj()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ModelSpec:
    """A model: the task it solves, where its file comes from, its LoadGen name."""

    name: str
    task: str
    description: str
    format: str
    loadgen_name: str  # model name used for keys in mlperf.conf / user.conf
    provider: str  # "module:callable" returning the model file's Path

    def ensure_file(self) -> Path:
        """Build or fetch the model file (cached) and return its path."""
        obj: Any = _resolve(self.provider)
        return obj()  # type: ignore[no-any-return]


def _resolve(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


TASKS: dict[str, TaskSpec] = {
    "digits": TaskSpec(
        name="digits",
        description="8x8 handwritten digits shipped with scikit-learn (360 held-out images)",
        input_shape=(1, 8, 8),
        input_dtype="float32",
        output_shape=(10,),
        dataset="perfpilot.catalog.builtin:DigitsDataset",
        metric="top-1",
        accuracy_target=97.0,
        server_latency_ms=10,
    ),
}

MODELS: dict[str, ModelSpec] = {
    "digits-cnn": ModelSpec(
        name="digits-cnn",
        task="digits",
        description="built-in CNN trained by perfpilot (works offline)",
        format="onnx",
        loadgen_name="digits-cnn",
        provider="perfpilot.catalog.builtin:ensure_digits_cnn",
    ),
}


def get_model(name: str) -> ModelSpec:
    """The catalog entry for ``name``, or a usage error listing the known models."""
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(
            f"unknown model {name!r}",
            f"Choose one of: {', '.join(sorted(MODELS))} (see 'perfpilot models list').",
        ) from None


def get_task(name: str) -> TaskSpec:
    """The task spec for ``name``."""
    try:
        return TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}", f"Choose one of: {', '.join(TASKS)}.") from None
