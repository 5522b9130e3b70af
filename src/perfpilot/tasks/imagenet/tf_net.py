"""The ResNet50 v1.5 stand-in as a TensorFlow SavedModel, built from its ONNX weights.

The weights come from ``perfpilot.tasks.imagenet.graph`` (which checks the file is
exactly the stand-in graph). The task feeds NCHW ``[N, 3, 224, 224]``; TF's CPU
convolutions want NHWC, so the input is transposed once and the kernels go from OIHW to
HWIO. ONNX pads strided convolutions and the max pool symmetrically, which TF's "SAME"
does not (it pads more at the end), so those get an explicit ``tf.pad`` and "VALID"; the
pool follows a ReLU, so padding it with zeros is exact. Imports TensorFlow inside the
function only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.tasks.imagenet.graph import STEM, ConvSpec, ResNet50Weights, block_specs

#: Bump when the TF network below changes; it is part of every cache key.
RECIPE = "resnet50-standin-tf/1"
_SIDE = 224


def save_resnet50_saved_model(weights: ResNet50Weights, directory: Path, tf: Any) -> None:
    """Write the stand-in as a SavedModel: signature ``serving_default``, input
    ``input_tensor`` float32 ``[N, 3, 224, 224]``, outputs ``ArgMax`` int64 ``[N]`` and
    ``softmax_tensor`` float32 ``[N, 1001]`` (the ONNX model's, without the ``:0``)."""
    specs: list[ConvSpec] = [STEM]
    for block in block_specs():
        specs += block.convs()
    if len(specs) != len(weights.convs):
        raise ValueError(f"{len(weights.convs)} convolutions given, the network has {len(specs)}")
    kernels = [
        (np.ascontiguousarray(w.transpose(2, 3, 1, 0), np.float32), np.asarray(b, np.float32))
        for w, b in weights.convs
    ]
    fc_w = np.ascontiguousarray(weights.fc_weight.T, np.float32)
    fc_b = np.asarray(weights.fc_bias, np.float32)

    class ResNet50(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__(name="resnet50_standin")
            self.kernels = [
                (
                    tf.Variable(k, trainable=False, name=f"conv{i}_kernel"),
                    tf.Variable(b, trainable=False, name=f"conv{i}_bias"),
                )
                for i, (k, b) in enumerate(kernels)
            ]
            self.fc_w = tf.Variable(fc_w, trainable=False, name="fc_kernel")
            self.fc_b = tf.Variable(fc_b, trainable=False, name="fc_bias")

        def conv(self, x: object, i: int, relu: bool) -> object:
            spec = specs[i]
            kernel, bias = self.kernels[i]
            if spec.pad and spec.stride > 1:
                p = spec.pad
                x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
                y = tf.nn.conv2d(x, kernel, spec.stride, "VALID")
            else:  # 1x1 (no padding) or stride 1, where "SAME" pads k // 2 each side
                y = tf.nn.conv2d(x, kernel, spec.stride, "SAME" if spec.pad else "VALID")
            y = tf.nn.bias_add(y, bias)
            return tf.nn.relu(y) if relu else y

        @tf.function(  # type: ignore[misc,untyped-decorator]
            input_signature=[
                tf.TensorSpec([None, 3, _SIDE, _SIDE], tf.float32, name="input_tensor")
            ]
        )
        def serve(self, x: object) -> dict[str, object]:
            h = tf.transpose(x, [0, 2, 3, 1])  # NCHW -> NHWC
            h = self.conv(h, 0, relu=True)
            h = tf.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]])  # after ReLU: zeros are exact
            h = tf.nn.max_pool2d(h, 3, 2, "VALID")
            i = 1
            for block in block_specs():
                short = h
                if block.project:
                    short = self.conv(h, i, relu=False)
                    i += 1
                y = self.conv(h, i, relu=True)
                y = self.conv(y, i + 1, relu=True)
                y = self.conv(y, i + 2, relu=False)
                i += 3
                h = tf.nn.relu(y + short)
            h = tf.reduce_mean(h, axis=[1, 2])
            logits = tf.matmul(h, self.fc_w) + self.fc_b
            return {
                "ArgMax": tf.argmax(logits, axis=1, output_type=tf.int64),
                "softmax_tensor": tf.nn.softmax(logits, axis=1),
            }

    module = ResNet50()
    tf.saved_model.save(
        module,
        str(directory),
        signatures={tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY: module.serve},
    )
