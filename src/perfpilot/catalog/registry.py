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
    needs_dataset_path: bool = False  # True when the user supplies the data (--dataset-path)
    # Models with several named inputs (BERT): samples stack them on axis 1, in this order.
    input_names: tuple[str, ...] = ()

    def load_dataset(self, path: Path | None = None, size: int | None = None) -> Dataset:
        """Import and build the task's dataset (from ``path`` for user-supplied data, its
        first ``size`` samples when given)."""
        obj: Any = _resolve(self.dataset)
        if self.needs_dataset_path:
            if path is None:
                raise UsageError(
                    f"task {self.name!r} needs its dataset folder",
                    "Pass --dataset-path DIR (for ImageNet: the validation images and "
                    "val_map.txt; 'perfpilot dataset synthetic-imagenet DIR' makes a stand-in. "
                    "For SQuAD: dev-v1.1.json and vocab.txt; 'perfpilot dataset "
                    "synthetic-squad DIR').",
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

    def ensure_file(self) -> Path:
        """Build or fetch the model file (cached) and return its path."""
        if self.urls:
            from perfpilot.catalog.official import fetch_model

            return fetch_model(self)
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
    "imagenet": TaskSpec(
        name="imagenet",
        description="ImageNet 2012 validation (user folder: images + val_map.txt)",
        input_shape=(3, 224, 224),
        input_dtype="float32",
        output_shape=(1001,),
        dataset="perfpilot.catalog.imagenet:ImagenetDataset",
        metric="top-1",
        accuracy_target=round(76.46 * 0.99, 4),  # the checker's ("acc", 76.46 * 0.99)
        server_latency_ms=15,
        needs_dataset_path=True,
    ),
    "squad": TaskSpec(
        name="squad",
        description="SQuAD v1.1 dev (user folder: dev-v1.1.json + vocab.txt), 384-token features",
        input_shape=(3, 384),
        input_dtype="int64",
        output_shape=(384, 2),
        dataset="perfpilot.catalog.squad:SquadDataset",
        metric="F1",
        accuracy_target=round(90.874 * 0.99, 5),  # the checker's ("F1", 90.874 * 0.99)
        server_latency_ms=130,
        needs_dataset_path=True,
        input_names=("input_ids", "input_mask", "segment_ids"),
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
    "resnet50": ModelSpec(
        name="resnet50",
        task="imagenet",
        description="MLPerf ResNet50 v1.5, official ONNX fp32 (opset 11), 76.456% top-1",
        format="onnx",
        loadgen_name="resnet50",
        provider="",
        postprocess="index-1",
        urls=(
            "https://zenodo.org/record/4735647/files/resnet50_v1.onnx",
            "https://armi.in/files/resnet50_v1_op11/resnet50_v1.onnx",
        ),
        md5="f6a4da60cd5f084d97efc2c1ddb10beb",
        artifact="resnet50-v1.5-onnx-fp32-opset11",
    ),
    "resnet50-standin": ModelSpec(
        name="resnet50-standin",
        task="imagenet",
        description="ResNet50 v1.5 architecture and ONNX signature, random weights (offline)",
        format="onnx",
        loadgen_name="resnet50",
        provider="perfpilot.catalog.builtin:ensure_resnet50_standin",
        postprocess="index-1",
        standin=True,
    ),
    **{
        name: ModelSpec(
            name=name,
            task="squad",
            description=f"MLPerf BERT-large SQuAD, official ONNX {kind} ({note})",
            format="onnx",
            loadgen_name="bert",
            provider="",
            postprocess="squad-logits",
            urls=urls,
            md5=md5,
            artifact=artifact,
            input_names=inputs,
            accuracy_target=target,
        )
        for name, kind, note, urls, md5, artifact, inputs, target in (
            (
                "bert-99",
                "fp32",
                "opset 11, 90.874% F1; target 99%",
                (
                    "https://zenodo.org/record/3733910/files/model.onnx",
                    "https://armi.in/files/model.onnx",
                ),
                "819b25b19cd8e59080c10892689750ca",
                "bert-large-squad-onnx-fp32",
                (),
                None,
            ),
            (
                "bert-99.9",
                "fp32",
                "opset 11, 90.874% F1; target 99.9%",
                (
                    "https://zenodo.org/record/3733910/files/model.onnx",
                    "https://armi.in/files/model.onnx",
                ),
                "819b25b19cd8e59080c10892689750ca",
                "bert-large-squad-onnx-fp32",
                (),
                round(90.874 * 0.999, 6),
            ),
            (
                "bert-99-int8",
                "int8",
                "fake-quant, 90.067% F1; target 99% of fp32",
                (
                    "https://zenodo.org/record/3750364/files/bert_large_v1_1_fake_quant.onnx",
                    "https://armi.in/files/bert_large_v1_1_fake_quant.onnx",
                    "https://mlperf-public.s3.us-west-2.amazonaws.com/"
                    "bert_large_v1_1_fake_quant.onnx",
                ),
                "45f88ffb2915362242703c85c38ec2d4",
                "bert-large-squad-onnx-int8",
                ("input_ids", "attention_mask", "token_type_ids"),
                None,
            ),
        )
    },
    "bert-99-pytorch": ModelSpec(
        name="bert-99-pytorch",
        task="squad",
        description="MLPerf BERT-large SQuAD, official PyTorch fp32 state dict (HF "
        "BertForQuestionAnswering; catalog entry: no backend loads it yet)",
        format="pytorch",
        loadgen_name="bert",
        provider="",
        postprocess="squad-logits",
        urls=(
            "https://zenodo.org/record/3733896/files/model.pytorch",
            "https://armi.in/files/fp32/model.pytorch",
        ),
        md5="00fbcbfaebfa20d87ac9885120a6e9b4",
        artifact="bert-large-squad-pytorch-fp32",
    ),
    "bert-99-tensorflow": ModelSpec(
        name="bert-99-tensorflow",
        task="squad",
        description="MLPerf BERT-large SQuAD, official TensorFlow frozen graph fp32 (catalog "
        "entry: no backend loads frozen graphs yet)",
        format="tensorflow",
        loadgen_name="bert",
        provider="",
        postprocess="squad-logits",
        urls=("https://zenodo.org/record/3939747/files/model.pb",),
        md5="dd72de12e8226f25f0128a1a864b97ad",
        artifact="bert-large-squad-tf-fp32",
    ),
    "bert-standin": ModelSpec(
        name="bert-standin",
        task="squad",
        description="BERT-large architecture and ONNX signature, random weights (offline)",
        format="onnx",
        loadgen_name="bert",
        provider="perfpilot.catalog.bert:ensure_bert_standin",
        postprocess="squad-logits",
        standin=True,
    ),
    "bert-standin-tiny": ModelSpec(
        name="bert-standin-tiny",
        task="squad",
        description="small BERT stand-in (2 layers, hidden 128; NOT BERT-large): tests",
        format="onnx",
        loadgen_name="bert",
        provider="perfpilot.catalog.bert:ensure_bert_standin_tiny",
        postprocess="squad-logits",
        standin=True,
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
