"""One table of tasks and one of models. Specs name code as ``"module:object"`` strings,
so reading the catalog imports no framework."""

from __future__ import annotations

import functools
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
    needs_dataset_path: bool = False  # True when the user supplies the data (--dataset-path)
    # Models with several named inputs (BERT): samples stack them on axis 1, in this order.
    input_names: tuple[str, ...] = ()
    runnable: bool = True  # False: a catalog entry whose dataset reader is not written yet
    # The LoadGen scenarios MLPerf defines for the task (3D-UNet: Offline, SingleStream).
    scenarios: tuple[str, ...] = ("Offline", "Server", "SingleStream", "MultiStream")
    # Keyword options for the dataset callable; set by :func:`model_task` from the model's
    # ``dataset_options`` (ImageNet: layout NHWC, MobileNet preprocessing).
    dataset_options: tuple[tuple[str, str], ...] = ()
    # What the user's --dataset-path folder holds, and how to make a stand-in of it.
    dataset_hint: str = ""
    # "module:object" of the task's LoadGen adapter (see perfpilot.tasks.adapter): how the
    # model is fed and how its outputs become LoadGen responses.
    adapter: str = "perfpilot.tasks.common.classification:ClassifierAdapter"
    # "module:callable" (accuracy log, dataset) -> a score with ``line()``: the task's
    # accuracy script, writing the official accuracy.txt format.
    scorer: str = "perfpilot.tasks.common.classification:score_dataset"
    # Per backend, the module that builds this task's networks in its framework: the
    # pytorch and tensorflow backends call its functions by name (see their loaders).
    loaders: tuple[tuple[str, str], ...] = ()
    # "module:object" of the click command that writes a stand-in of the dataset folder
    # ("perfpilot dataset synthetic-<task>"); "" where the task has none.
    synthetic: str = ""
    # "module:callable" (path, graph inputs, graph outputs) checking an ONNX file's
    # signature where the generic check (one input, or ``input_names``) does not fit.
    onnx_check: str = ""
    # Generative: the model answers token ids, first token first (LoadGen's token path:
    # TTFT, TPOT, tokens/s); its runtime needs ``generate``.
    generative: bool = False
    # Generative tasks: the most tokens an answer may have (the reference's max_new_tokens).
    max_new_tokens: int = 0

    def loader(self, backend: str) -> str:
        """The loader module for ``backend`` ("" where the task has none)."""
        return dict(self.loaders).get(backend, "")

    def load_dataset(self, path: Path | None = None, size: int | None = None) -> Dataset:
        """Import and build the task's dataset (from ``path`` for user-supplied data, its
        first ``size`` samples when given)."""
        obj: Any = resolve(self.dataset)
        if self.dataset_options:
            obj = functools.partial(obj, **dict(self.dataset_options))
        if self.needs_dataset_path:
            if path is None:
                raise UsageError(
                    f"task {self.name!r} needs its dataset folder",
                    "Pass --dataset-path DIR"
                    + (f" ({self.dataset_hint})." if self.dataset_hint else "."),
                )
            return obj(path, size)  # type: ignore[no-any-return]
        if path is not None:
            raise UsageError(
                f"task {self.name!r} uses its built-in dataset; --dataset-path does not apply"
            )
        return obj(size=size)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ModelSpec:
    """A model: the task it solves, where its file comes from, its LoadGen name."""

    name: str
    task: str
    description: str
    format: str
    loadgen_name: str  # model name used for keys in mlperf.conf / user.conf
    provider: str  # "module:callable" returning the model file's Path
    # How the first output becomes a class index: "argmax" over scores, or
    # "index-1" / "index" for a model that outputs the class (1001-class models: -1).
    postprocess: str = "argmax"
    standin: bool = False  # random weights: speed only, accuracy not judged
    # Official artifacts: mirrors tried in order, the MD5 MLCommons publishes, and the
    # name the file gets in the artifact store.
    urls: tuple[str, ...] = ()
    md5: str | None = None
    artifact: str | None = None
    # Where a model differs from its task: its own input names (same order as the task's)
    # and its own accuracy target (bert-99 / bert-99.9 share the squad task).
    input_names: tuple[str, ...] = ()
    accuracy_target: float | None = None
    runnable: bool = True  # False: facts only (artifact, checksum, target); cannot run yet
    open_only: bool = False  # not a closed-division model (e.g. MobileNet since v0.7)
    # Graph tensors to fetch, for files that do not name their outputs (TensorFlow frozen
    # graphs, whose tensors to feed are ``input_names``).
    output_names: tuple[str, ...] = ()
    # The samples this model's file wants, as keyword options of its task's dataset:
    # ("layout", "NHWC") for channels-last graphs, ("preprocess", "mobilenet"). See
    # :func:`model_task`.
    dataset_options: tuple[tuple[str, str], ...] = ()
    # Where the model's per-sample output differs from its task's (the TorchVision ResNet50:
    # 1000 classes, not the TF/ONNX model's 1001); applied by :func:`model_task`.
    output_shape: tuple[int, ...] = ()
    # Generative models: "module:callable" returning the tokenizer (tokenizer.json or its
    # folder) to read answers with when the run has no --model-path (stand-ins).
    tokenizer: str = ""

    def ensure_file(self) -> Path:
        """Build or fetch the model file (cached) and return its path."""
        if self.urls:
            from perfpilot.tasks.common.fetch import fetch_model

            return fetch_model(self)
        if not self.provider:  # e.g. DLRM-v2: the official weights cannot be fetched
            raise UsageError(
                f"model {self.name!r} has no download perfpilot can fetch",
                "Pass your model file with --model-path FILE.",
            )
        obj: Any = resolve(self.provider)
        return obj()  # type: ignore[no-any-return]


def resolve(target: str) -> Any:
    """The object a ``"module:object"`` string names (imported on first use)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
