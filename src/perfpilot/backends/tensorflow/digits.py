"""digits-cnn as a TensorFlow SavedModel, built from the weights of its ONNX file.

TensorFlow cannot read ONNX, so the network is written again with TF ops and the ONNX
initializers are copied in. TF's CPU convolutions want NHWC: the input is transposed
once, the kernels go from OIHW to HWIO, and the first dense layer's rows are permuted so
that flattening NHWC gives what flattening NCHW gave in ONNX. The result is cached per
(ONNX file SHA-256, TensorFlow version) and counted only once its manifest exists.

The graph check and weight reading live in :mod:`perfpilot.catalog.digits_graph` (no
TensorFlow needed, so parent-side checks use it); this module imports TensorFlow inside
its functions.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from perfpilot.backends.tensorflow.runtime import DEFAULT_SIGNATURE, import_tensorflow
from perfpilot.catalog.digits_graph import onnx_digits_weights
from perfpilot.errors import ModelFileError

#: Bump when the TF network below changes; it is part of every cache key.
RECIPE = "digits-cnn-tf/1"
_SIDE = 8  # input images are 8x8; the 2x2 pool leaves 4x4 per channel


def tf_weights(onnx_weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ONNX weights in the layouts the NHWC network below uses."""
    c2 = onnx_weights["conv2.weight"].shape[0]
    fc1 = onnx_weights["fc1.weight"]
    side = _SIDE // 2
    # ONNX flattens (C, H, W); NHWC flattens (H, W, C): reorder fc1's input axis to match.
    fc1_nhwc = fc1.reshape(fc1.shape[0], c2, side, side).transpose(0, 2, 3, 1)
    return {
        "conv1_kernel": onnx_weights["conv1.weight"].transpose(2, 3, 1, 0),
        "conv1_bias": onnx_weights["conv1.bias"],
        "conv2_kernel": onnx_weights["conv2.weight"].transpose(2, 3, 1, 0),
        "conv2_bias": onnx_weights["conv2.bias"],
        "fc1_kernel": fc1_nhwc.reshape(fc1.shape[0], -1).T,
        "fc1_bias": onnx_weights["fc1.bias"],
        "fc2_kernel": onnx_weights["fc2.weight"].T,
        "fc2_bias": onnx_weights["fc2.bias"],
    }


def save_digits_saved_model(onnx_weights: dict[str, np.ndarray], directory: Path) -> None:
    """Write digits-cnn as a SavedModel: signature ``serving_default``, input ``input``
    float32 ``[N, 1, 8, 8]``, output ``logits`` float32 ``[N, classes]``."""
    tf = import_tensorflow()
    weights = {k: np.ascontiguousarray(v, np.float32) for k, v in tf_weights(onnx_weights).items()}
    flat = weights["fc1_kernel"].shape[0]

    class DigitsCnn(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__(name="digits_cnn")
            self.w = {k: tf.Variable(v, trainable=False, name=k) for k, v in weights.items()}

        @tf.function(  # type: ignore[misc,untyped-decorator]
            input_signature=[tf.TensorSpec([None, 1, _SIDE, _SIDE], tf.float32, name="input")]
        )
        def serve(self, x: object) -> dict[str, object]:
            w = self.w
            h = tf.transpose(x, [0, 2, 3, 1])  # NCHW -> NHWC
            h = tf.nn.relu(
                tf.nn.bias_add(tf.nn.conv2d(h, w["conv1_kernel"], 1, "SAME"), w["conv1_bias"])
            )
            h = tf.nn.relu(
                tf.nn.bias_add(tf.nn.conv2d(h, w["conv2_kernel"], 1, "SAME"), w["conv2_bias"])
            )
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
            h = tf.reshape(h, [-1, flat])
            h = tf.nn.relu(tf.matmul(h, w["fc1_kernel"]) + w["fc1_bias"])
            return {"logits": tf.matmul(h, w["fc2_kernel"]) + w["fc2_bias"]}

    module = DigitsCnn()
    tf.saved_model.save(module, str(directory), signatures={DEFAULT_SIGNATURE: module.serve})


def ensure_digits_saved_model(onnx_path: Path) -> Path:
    """The cached SavedModel of the digits-cnn ONNX file ``onnx_path``, built first if
    missing or damaged. Raises ModelFileError if the file is not digits-cnn."""
    from perfpilot.backends.tensorflow.builtin import BuiltinModel, ensure_saved_model

    weights = onnx_digits_weights(onnx_path)
    if weights is None:
        raise ModelFileError(
            f"the tensorflow backend cannot run {onnx_path}: it is not the built-in "
            "digits-cnn in ONNX",
            "Give --model-path a SavedModel directory, or run ONNX models with "
            "--backend onnxruntime.",
        )
    save = functools.partial(save_digits_saved_model, weights)
    return ensure_saved_model(onnx_path, BuiltinModel("digits-cnn", RECIPE, save))
