"""ImageNet classification: ResNet50 v1.5 (ONNX, PyTorch, TensorFlow), its stand-in, MobileNet."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="imagenet",
    description="ImageNet 2012 validation (user folder: images + val_map.txt)",
    input_shape=(3, 224, 224),
    input_dtype="float32",
    output_shape=(1001,),
    dataset="perfpilot.tasks.imagenet.dataset:ImagenetDataset",
    metric="top-1",
    accuracy_target=round(76.46 * 0.99, 4),  # the checker's ("acc", 76.46 * 0.99)
    server_latency_ms=15,
    needs_dataset_path=True,
    dataset_hint="the validation images and val_map.txt; "
    "'perfpilot dataset synthetic-imagenet DIR' makes a stand-in",
    loaders=(
        ("pytorch", "perfpilot.tasks.common.torch_models"),
        ("tensorflow", "perfpilot.tasks.common.tf_models"),
        ("tflite", "perfpilot.tasks.common.tf_models"),
    ),
    synthetic="perfpilot.tasks.imagenet.commands:synthetic_imagenet",
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
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
    ModelSpec(
        name="resnet50-standin",
        task="imagenet",
        description="ResNet50 v1.5 architecture and ONNX signature, random weights (offline)",
        format="onnx",
        loadgen_name="resnet50",
        provider="perfpilot.tasks.imagenet.standin:ensure_resnet50_standin",
        postprocess="index-1",
        standin=True,
    ),
    ModelSpec(
        name="resnet50-pytorch",
        task="imagenet",
        description="MLPerf ResNet50 v1.5, official PyTorch fp32 TorchVision state dict "
        "(--backend pytorch; 1000 classes, torchvision preprocessing), 76.014%",
        format="pytorch",
        loadgen_name="resnet50",
        provider="",
        postprocess="argmax",
        urls=("https://zenodo.org/record/4588417/files/resnet50-19c8e357.pth",),
        md5="9e9c86b324d80e65229fab49b8d9a8e8",
        artifact="resnet50-v1.5-pytorch-fp32",
        # The reference's "imagenet_pytorch" dataset: pre_process_imagenet_pytorch (PIL
        # resize 256, crop 224, / 255, ImageNet mean/std, NCHW), PostProcessArgMax(0).
        dataset_options=(("preprocess", "pytorch"),),
        output_shape=(1000,),
    ),
    ModelSpec(
        name="resnet50-tf",
        task="imagenet",
        description="MLPerf ResNet50 v1.5, official TensorFlow frozen graph fp32 NHWC, "
        "76.456% (--backend tensorflow; samples cached channels-last)",
        format="tensorflow",
        loadgen_name="resnet50",
        provider="",
        postprocess="index-1",
        urls=(
            "https://zenodo.org/record/2535873/files/resnet50_v1.pb",
            "https://armi.in/files/resnet50_v1.pb",
        ),
        md5="7b94a2da05dd30f6c0af23a46bc08886",
        artifact="resnet50-v1.5-tf-fp32",
        # The reference's "resnet50-tf" profile
        input_names=("input_tensor:0",),
        output_names=("ArgMax:0",),
        dataset_options=(("layout", "NHWC"),),
    ),
    ModelSpec(
        name="mobilenet",
        task="imagenet",
        description="MobileNet v1 1.0/224, ONNX fp32 opset 11, 71.676% (open division "
        "only: retired from closed since v0.7; no published checksum)",
        format="onnx",
        loadgen_name="mobilenet",
        provider="",
        # The reference's PostProcessArgMax(offset=-1): argmax of 1001 scores, minus 1
        postprocess="index-1",
        urls=("https://zenodo.org/record/4735651/files/mobilenet_v1_1.0_224.onnx",),
        artifact="mobilenet-v1-onnx-fp32-opset11",
        accuracy_target=round(71.676 * 0.98, 4),  # the v0.5 checker's 98% rule
        open_only=True,
        # pre_process_mobilenet; the ONNX input is NCHW (tf2onnx --inputs-as-nchw input:0)
        dataset_options=(("preprocess", "mobilenet"),),
    ),
)
