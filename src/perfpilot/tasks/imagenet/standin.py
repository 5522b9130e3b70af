"""Offline stand-ins: models with the official architecture and signature, random weights.

They let real-sized models be measured on machines with no internet. Results from a
stand-in measure speed only: their accuracy is meaningless, and they must never be
packaged as a closed submission (run records mark them ``standin``).

ResNet50 v1.5 stand-in: the layer structure of the MLPerf reference (stride 2 on the 3x3
convolution of each stage's first bottleneck), batch normalisation folded into the
convolutions as inference graphs have it, 1001 classes, and the official ONNX model's
tensor names: input ``input_tensor:0`` (N x 3 x 224 x 224, NCHW), outputs
``softmax_tensor:0`` (N x 1001) and ``ArgMax:0`` (N, int64, class index offset by 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfpilot.tasks.common.builtin import ensure_built
from perfpilot.tasks.common.onnx_build import model_bytes

RESNET50_RECIPE = "resnet50-standin/1"
RESNET50_INPUT = "input_tensor:0"
RESNET50_OUTPUTS = ("ArgMax:0", "softmax_tensor:0")
RESNET50_CLASSES = 1001
_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # width, blocks, stride


class _Graph:
    """Collects ONNX nodes and initializers with unique names."""

    def __init__(self, seed: int) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.rng = np.random.default_rng(seed)
        self.nodes: list[object] = []
        self.inits: list[object] = []
        self.count = 0

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def conv(
        self,
        x: str,
        cin: int,
        cout: int,
        k: int,
        stride: int = 1,
        relu: bool = True,
        gain: float = 1.0,
    ) -> str:
        name = self._name("conv")
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = (self.rng.standard_normal((cout, cin, k, k), dtype=np.float32) * std).astype(np.float32)
        b = np.zeros(cout, np.float32)
        self.inits += [
            self.numpy_helper.from_array(w, f"{name}/weights"),
            self.numpy_helper.from_array(b, f"{name}/bias"),
        ]
        pad = k // 2
        self.nodes.append(
            self.helper.make_node(
                "Conv",
                [x, f"{name}/weights", f"{name}/bias"],
                [name],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[pad, pad, pad, pad],
            )
        )
        if not relu:
            return name
        self.nodes.append(self.helper.make_node("Relu", [name], [f"{name}/relu"]))
        return f"{name}/relu"

    def add_relu(self, a: str, b: str) -> str:
        name = self._name("add")
        self.nodes.append(self.helper.make_node("Add", [a, b], [name]))
        self.nodes.append(self.helper.make_node("Relu", [name], [f"{name}/relu"]))
        return f"{name}/relu"


def resnet50_onnx_bytes(seed: int = 50) -> bytes:
    """Build the ResNet50 v1.5 stand-in (about 25.6 M parameters, ~100 MB)."""
    from onnx import TensorProto, helper, numpy_helper

    g = _Graph(seed)
    x = g.conv(RESNET50_INPUT, 3, 64, 7, stride=2)
    g.nodes.append(
        helper.make_node(
            "MaxPool", [x], ["pool1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
        )
    )
    x, cin = "pool1", 64
    for width, blocks, stride in _STAGES:
        for i in range(blocks):
            s = stride if i == 0 else 1
            shortcut = x if i > 0 else g.conv(x, cin, width * 4, 1, stride=s, relu=False)
            y = g.conv(x, cin, width, 1)
            y = g.conv(y, width, width, 3, stride=s)  # v1.5: the stride sits here
            # A small last layer keeps activations bounded through 16 random residual blocks.
            y = g.conv(y, width, width * 4, 1, relu=False, gain=0.2)
            x, cin = g.add_relu(y, shortcut), width * 4
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["avg_pool"]))
    g.nodes.append(helper.make_node("Flatten", ["avg_pool"], ["flat"], axis=1))
    fc_w = (g.rng.standard_normal((RESNET50_CLASSES, 2048), dtype=np.float32) * 0.02).astype(
        np.float32
    )
    g.inits += [
        numpy_helper.from_array(fc_w, "dense/kernel"),
        numpy_helper.from_array(np.zeros(RESNET50_CLASSES, np.float32), "dense/bias"),
    ]
    g.nodes += [
        helper.make_node("Gemm", ["flat", "dense/kernel", "dense/bias"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["softmax_tensor:0"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["ArgMax:0"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        g.nodes,  # type: ignore[arg-type]
        "resnet50-v1.5-standin",
        [helper.make_tensor_value_info(RESNET50_INPUT, TensorProto.FLOAT, ["N", 3, 224, 224])],
        [
            helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info(
                "softmax_tensor:0", TensorProto.FLOAT, ["N", RESNET50_CLASSES]
            ),
        ],
        initializer=g.inits,  # type: ignore[arg-type]
    )
    return model_bytes(graph, "perfpilot-standin", RESNET50_RECIPE, opset=13)


def ensure_resnet50_standin() -> Path:
    """The ResNet50 v1.5 stand-in's ONNX file (generated on first use, ~100 MB)."""
    return ensure_built("resnet50-standin", RESNET50_RECIPE, resnet50_onnx_bytes)
