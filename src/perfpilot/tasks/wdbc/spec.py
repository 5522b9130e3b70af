"""Breast-cancer diagnosis from 30 cell-nucleus measurements (scikit-learn's copy of the
Wisconsin Diagnostic Breast Cancer set): a small tabular task that works offline, and the
example of adding a task as one folder plus one registry line (docs/architecture.md)."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="wdbc",
    description="Wisconsin diagnostic breast cancer, 30 features, shipped with scikit-learn "
    "(114 held-out samples)",
    input_shape=(30,),
    input_dtype="float32",
    output_shape=(2,),
    dataset="perfpilot.tasks.wdbc.dataset:WdbcDataset",
    metric="top-1",
    accuracy_target=90.0,
    server_latency_ms=10,
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="wdbc-logreg",
        task="wdbc",
        description="logistic regression fitted by perfpilot with scikit-learn (offline)",
        format="onnx",
        loadgen_name="wdbc-logreg",
        provider="perfpilot.tasks.wdbc.model:ensure_wdbc_logreg",
    ),
)
