"""KiTS19 kidney tumour segmentation: 3D-UNet and a tiny stand-in."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="kits19",
    description="KiTS19 kidney tumour segmentation, 43 cases (user folder: the "
    "reference preprocess.py output, preprocessed_files.pkl + case_XXXXX.pkl)",
    input_shape=(1, 128, 128, 128),
    input_dtype="float32",
    output_shape=(3, 128, 128, 128),
    dataset="perfpilot.tasks.kits19.dataset:Kits19Dataset",
    metric="DICE",
    accuracy_target=round(0.86170 * 0.99 * 100, 4),  # ("DICE", 0.86170 * 0.99)
    server_latency_ms=0,  # no Server scenario for 3d-unet
    needs_dataset_path=True,
    scenarios=("Offline", "SingleStream"),
    dataset_hint="the reference preprocess.py output, preprocessed_files.pkl and case_XXXXX.pkl; "
    "'perfpilot dataset synthetic-kits19 DIR' makes a stand-in",
    adapter="perfpilot.tasks.kits19.adapter:SegmentationAdapter",
    scorer="perfpilot.tasks.kits19.scorer:score_dataset",
    synthetic="perfpilot.tasks.kits19.commands:synthetic_kits19",
)

MODELS: tuple[ModelSpec, ...] = (
    *(
        ModelSpec(
            name=f"3d-unet-{level}",
            task="kits19",
            description=f"MLPerf 3D-UNet KiTS19, official ONNX fp32 dynamic batch, mean "
            f"DICE 0.86170; target {level}%",
            format="onnx",
            loadgen_name="3d-unet",
            provider="",
            postprocess="kits19",  # sliding window over each case, uint8 labels
            urls=(
                "https://zenodo.org/record/5597155/files/"
                "3dunet_kits19_128x128x128_dynbatch.onnx?download=1",
            ),
            md5="82f0618fde78f9839e7c712274019b4a",
            artifact="3d-unet-kits19-onnx-fp32-dynbatch",
            accuracy_target=round(86.170 * factor, 4),
        )
        for level, factor in (("99", 0.99), ("99.9", 0.999))
    ),
    ModelSpec(
        name="3d-unet-standin-tiny",
        task="kits19",
        description="tiny 3D-UNet stand-in (pool, 2 convs, upsample; NOT the MLPerf 3D-UNet): "
        "official ONNX signature, random weights: tests",
        format="onnx",
        loadgen_name="3d-unet",
        provider="perfpilot.tasks.kits19.standin:ensure_unet_standin_tiny",
        postprocess="kits19",
        standin=True,
    ),
)
