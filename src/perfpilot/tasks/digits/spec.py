"""The built-in digits task (scikit-learn's 8x8 images) and its CNN."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="digits",
    description="8x8 handwritten digits shipped with scikit-learn (360 held-out images)",
    input_shape=(1, 8, 8),
    input_dtype="float32",
    output_shape=(10,),
    dataset="perfpilot.tasks.digits.dataset:DigitsDataset",
    metric="top-1",
    accuracy_target=97.0,
    server_latency_ms=10,
    loaders=(
        ("pytorch", "perfpilot.tasks.common.torch_models"),
        ("tensorflow", "perfpilot.tasks.common.tf_models"),
        ("tflite", "perfpilot.tasks.common.tf_models"),
    ),
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="digits-cnn",
        task="digits",
        description="built-in CNN trained by perfpilot (works offline)",
        format="onnx",
        loadgen_name="digits-cnn",
        provider="perfpilot.tasks.digits.model:ensure_digits_cnn",
    ),
)
