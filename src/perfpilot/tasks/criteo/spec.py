"""Criteo 1TB click-through: DLRM-v2 and a small stand-in."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="criteo",
    description="Criteo 1TB click logs, multi-hot day 23 (user folder: the MLPerf "
    "preprocessed day_23_dense/sparse_multi_hot/labels files); samples of 100-700 rows",
    input_shape=(13,),  # per row: dense float32 [13] + sparse int64 [214] (criteo.py)
    input_dtype="float32",
    output_shape=(1,),
    dataset="perfpilot.tasks.criteo.dataset:CriteoDataset",
    metric="AUC",
    accuracy_target=round(80.31 * 0.99, 4),  # ("AUC", 80.31 * 0.99)
    server_latency_ms=60,
    needs_dataset_path=True,
    input_names=("dense_features", "sparse_features"),  # see catalog/dlrm_graph.py
    dataset_hint="the day_23_* multi-hot files; "
    "'perfpilot dataset synthetic-criteo DIR' makes a stand-in",
    adapter="perfpilot.tasks.criteo.adapter:CriteoAdapter",
    scorer="perfpilot.tasks.criteo.scorer:score_auc_log",
    synthetic="perfpilot.tasks.criteo.commands:synthetic_criteo",
    onnx_check="perfpilot.tasks.criteo.standin:check_dlrm_signature",
)

MODELS: tuple[ModelSpec, ...] = (
    *(
        ModelSpec(
            name=f"dlrm-v2-{level}",
            task="criteo",
            description=f"MLPerf DLRM-v2 (DCNv2), official TorchRec sharded fp32 weights "
            f"(97 GB, MLCommons R2 downloader, no checksum published), AUC 80.31%; target "
            f"{level}%; runs your ONNX export given with --model-path",
            format="pytorch",
            loadgen_name="dlrm-v2",
            provider="",  # no download: --model-path is required
            postprocess="dlrm",
            accuracy_target=round(80.31 * factor, 4),
        )
        for level, factor in (("99", 0.99), ("99.9", 0.999))
    ),
    ModelSpec(
        name="dlrm-v2-standin-tiny",
        task="criteo",
        description="small DLRM-DCNv2 stand-in (26 tables of <= 1000 rows, dim 16; NOT the "
        "MLPerf model): the criteo ONNX signature, random weights: tests",
        format="onnx",
        loadgen_name="dlrm-v2",
        provider="perfpilot.tasks.criteo.standin:ensure_dlrm_standin_tiny",
        postprocess="dlrm",
        standin=True,
    ),
)
