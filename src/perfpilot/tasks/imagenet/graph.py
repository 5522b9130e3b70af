"""The ResNet50 v1.5 stand-in's weights, read back from its ONNX file (no torch, no TF).

The graph is the one ``perfpilot.tasks.imagenet.standin.resnet50_onnx_bytes`` writes: batch
norm folded into biased convolutions, stride on each stage's first 3x3 (v1.5), 1001
classes. Backends that cannot run ONNX (pytorch, tensorflow, tflite) rebuild the network
and take its weights from here, after :func:`read_resnet50_standin` has checked that the
file is exactly that graph: every op, its attributes, its weights' shapes and which
tensors feed it. Another network gives None, so it is never run with the wrong
architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.tasks.imagenet.standin import RESNET50_CLASSES, RESNET50_INPUT, RESNET50_OUTPUTS

#: (width, blocks, stride) of the four stages.
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
FEATURES = 2048  # channels after the last stage, the classifier's input


@dataclass(frozen=True)
class ConvSpec:
    """One convolution: channels in and out, square kernel, stride (padding is k // 2)."""

    cin: int
    cout: int
    kernel: int
    stride: int

    @property
    def pad(self) -> int:
        return self.kernel // 2


@dataclass(frozen=True)
class BlockSpec:
    """A bottleneck: 1x1 -> 3x3 (strided, v1.5) -> 1x1, plus a projected shortcut on
    each stage's first block."""

    cin: int
    width: int
    stride: int
    project: bool

    def convs(self) -> list[ConvSpec]:
        """Its convolutions in graph order: shortcut (if any), then a, b, c."""
        out = [ConvSpec(self.cin, self.width * 4, 1, self.stride)] if self.project else []
        return [
            *out,
            ConvSpec(self.cin, self.width, 1, 1),
            ConvSpec(self.width, self.width, 3, self.stride),
            ConvSpec(self.width, self.width * 4, 1, 1),
        ]


STEM = ConvSpec(3, 64, 7, 2)


def block_specs() -> list[BlockSpec]:
    """The 16 bottlenecks in order."""
    blocks: list[BlockSpec] = []
    cin = 64
    for width, count, stride in STAGES:
        for i in range(count):
            blocks.append(BlockSpec(cin, width, stride if i == 0 else 1, project=i == 0))
            cin = width * 4
    return blocks


@dataclass(frozen=True)
class ResNet50Weights:
    """The stand-in's weights: each convolution's (OIHW weight, bias) in graph order
    (stem, then per block: shortcut if any, a, b, c), and the classifier's ``[1001,
    2048]`` weight and bias (``logits = x @ fc_weight.T + fc_bias``)."""

    convs: list[tuple[np.ndarray, np.ndarray]]
    fc_weight: np.ndarray
    fc_bias: np.ndarray


class _Expect:
    """Walks the ONNX nodes in order, checking each against the expected op and inputs."""

    def __init__(self, model: Any) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.nodes = list(model.graph.node)
        self.pos = 0
        self.weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}

    def node(self, op: str, inputs: list[str], **attrs: object) -> Any:
        if self.pos >= len(self.nodes):
            raise LookupError(f"graph ends before {op}")
        node = self.nodes[self.pos]
        self.pos += 1
        found = {a.name: self.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != op or list(node.input[: len(inputs)]) != inputs:
            raise LookupError(f"node {node.name or self.pos}: {node.op_type}, expected {op}")
        if any(found.get(k) != v for k, v in attrs.items()):
            raise LookupError(f"node {node.name or self.pos}: attributes differ")
        return node

    def conv(self, x: str, spec: ConvSpec, relu: bool) -> tuple[str, np.ndarray, np.ndarray]:
        k, s, p = spec.kernel, spec.stride, spec.pad
        attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p, p, p, p]}
        node = self.node("Conv", [x], **attrs)
        if len(node.input) != 3:
            raise LookupError("a convolution without its bias")
        w, b = (self.weights.get(name) for name in node.input[1:])
        if w is None or b is None or w.shape != (spec.cout, spec.cin, k, k):
            raise LookupError(f"convolution {node.output[0]}: weights differ")
        if b.shape != (spec.cout,):
            raise LookupError(f"convolution {node.output[0]}: bias differs")
        out = node.output[0]
        if relu:
            out = self.node("Relu", [out]).output[0]
        return out, w, b


def read_resnet50_standin(path: Path) -> ResNet50Weights | None:
    """The weights of ``path`` if it is the ResNet50 v1.5 stand-in graph, else None."""
    import onnx
    from google.protobuf.message import Error as ProtobufError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (ProtobufError, OSError):
        return None
    graph = model.graph
    if [i.name for i in graph.input] != [RESNET50_INPUT] or tuple(
        o.name for o in graph.output
    ) != tuple(RESNET50_OUTPUTS):
        return None
    walk = _Expect(model)
    convs: list[tuple[np.ndarray, np.ndarray]] = []
    try:
        x, w, b = walk.conv(RESNET50_INPUT, STEM, relu=True)
        convs.append((w, b))
        pool = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
        x = walk.node("MaxPool", [x], **pool).output[0]
        for block in block_specs():
            specs = block.convs()
            short = x
            if block.project:
                short, w, b = walk.conv(x, specs.pop(0), relu=False)
                convs.append((w, b))
            y = x
            for i, spec in enumerate(specs):
                y, w, b = walk.conv(y, spec, relu=i < 2)
                convs.append((w, b))
            x = walk.node("Add", [y, short]).output[0]
            x = walk.node("Relu", [x]).output[0]
        x = walk.node("GlobalAveragePool", [x]).output[0]
        x = walk.node("Flatten", [x], axis=1).output[0]
        gemm = walk.node("Gemm", [x], transB=1)
        if len(gemm.input) != 3 or any(
            a.name in ("alpha", "beta", "transA") for a in gemm.attribute
        ):
            return None
        fc_w, fc_b = (walk.weights[n] for n in gemm.input[1:])
        logits = gemm.output[0]
        walk.node("Softmax", [logits], axis=1)
        walk.node("ArgMax", [logits], axis=1, keepdims=0)
    except (LookupError, KeyError):
        return None
    if walk.pos != len(walk.nodes):
        return None
    if fc_w.shape != (RESNET50_CLASSES, FEATURES) or fc_b.shape != (RESNET50_CLASSES,):
        return None
    return ResNet50Weights(convs=convs, fc_weight=fc_w, fc_bias=fc_b)
