"""OpenImages object detection: RetinaNet (ONNX, PyTorch)."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="openimages",
    description="OpenImages v6 MLPerf subset, 800x800 (user folder: annotations/ "
    "openimages-mlperf.json + validation/data/)",
    input_shape=(3, 800, 800),
    input_dtype="float32",
    output_shape=(-1, 4),  # boxes [N, 4], labels [N], scores [N] for one image
    dataset="perfpilot.tasks.openimages.dataset:OpenImagesDataset",
    metric="mAP",
    accuracy_target=round(37.55 * 0.99, 4),  # the checker's ("mAP", 37.55 * 0.99)
    server_latency_ms=100,
    needs_dataset_path=True,
    dataset_hint="annotations/openimages-mlperf.json and validation/data/; "
    "'perfpilot dataset synthetic-openimages DIR' makes a stand-in",
    adapter="perfpilot.tasks.openimages.adapter:DetectionAdapter",
    scorer="perfpilot.tasks.openimages.scorer:score_dataset",
    loaders=(("pytorch", "perfpilot.tasks.common.torch_models"),),
    synthetic="perfpilot.tasks.openimages.commands:synthetic_openimages",
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="retinanet",
        task="openimages",
        description="MLPerf RetinaNet 800x800 (ResNeXt50-FPN), official ONNX fp32, batch 1, "
        "0.3757 mAP",
        format="onnx",
        loadgen_name="retinanet",
        provider="",
        postprocess="retinanet",
        urls=(
            "https://zenodo.org/record/6617879/files/resnext50_32x4d_fpn.onnx",
            "https://armi.in/files/resnext50_32x4d_fpn.onnx",
            "https://storage.googleapis.com/resnet50_assets/resnext50_32x4d_fpn.onnx",
        ),
        md5="4544f4e56e0a4684215831cc937ea45c",
        artifact="retinanet-onnx-fp32",
    ),
    ModelSpec(
        name="retinanet-pytorch",
        task="openimages",
        description="MLPerf RetinaNet 800x800 (ResNeXt50-FPN), official PyTorch fp32 "
        "(--backend pytorch, batch 1; the pickled model's tensors, read without its "
        "code, or a state dict), 0.3755 mAP",
        format="pytorch",
        loadgen_name="retinanet",
        provider="",
        postprocess="retinanet",
        urls=(
            "https://zenodo.org/record/6617981/files/resnext50_32x4d_fpn.pth",
            "https://armi.in/files/resnext50_32x4d_fpn.pth",
        ),
        md5="a55f6bec3464f605ce8d686da8ac1533",
        artifact="retinanet-pytorch-fp32",
        input_names=("image",),  # the reference profile's input; batch 1 (Detections)
    ),
)
