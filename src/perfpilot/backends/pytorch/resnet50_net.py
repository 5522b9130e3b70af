"""The ResNet50 v1.5 stand-in as a torch module, its weights read from the stand-in's ONNX.

The graph mirrors ``perfpilot.catalog.standins.resnet50_onnx_bytes`` (batch norm folded
into biased convolutions, stride on each stage's first 3x3, 1001 classes). torch cannot
run ONNX, so the pytorch backend rebuilds the network and copies the initializers in,
node by node, after checking that the file is exactly that graph: every op, its
attributes, its weights' shapes and which tensors feed it. Another network is refused,
never run with the wrong architecture. Imported only by the backend's ``load``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from perfpilot.catalog.standins import RESNET50_CLASSES, RESNET50_INPUT, RESNET50_OUTPUTS

_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # width, blocks, stride


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, v1.5) -> 1x1, plus the shortcut (projected when it must be)."""

    def __init__(self, cin: int, width: int, stride: int, project: bool) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(cin, width * 4, 1, stride=stride) if project else None
        self.conv_a = nn.Conv2d(cin, width, 1)
        self.conv_b = nn.Conv2d(width, width, 3, stride=stride, padding=1)
        self.conv_c = nn.Conv2d(width, width * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x if self.shortcut is None else self.shortcut(x)
        y = F.relu(self.conv_a(x))
        y = F.relu(self.conv_b(y))
        return F.relu(self.conv_c(y) + short)


class ResNet50(nn.Module):
    """Outputs ``(ArgMax:0, softmax_tensor:0)`` as the ONNX model orders them."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        blocks: list[nn.Module] = []
        cin = 64
        for width, count, stride in _STAGES:
            for i in range(count):
                blocks.append(Bottleneck(cin, width, stride if i == 0 else 1, project=i == 0))
                cin = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, RESNET50_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.stem(x)), kernel_size=3, stride=2, padding=1)
        x = self.blocks(x)
        logits = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return logits.argmax(dim=1), torch.softmax(logits, dim=1)

    def convs_in_graph_order(self) -> list[nn.Conv2d]:
        """The convolutions in the order the stand-in's ONNX graph lists them."""
        order: list[nn.Conv2d] = [self.stem]
        for block in self.blocks:
            assert isinstance(block, Bottleneck)
            if block.shortcut is not None:
                order.append(block.shortcut)
            order += [block.conv_a, block.conv_b, block.conv_c]
        return order


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

    def conv(self, x: str, conv: nn.Conv2d, relu: bool) -> tuple[str, np.ndarray, np.ndarray]:
        k, s, p = conv.kernel_size[0], conv.stride[0], int(conv.kernel_size[0]) // 2
        attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p, p, p, p]}
        node = self.node("Conv", [x], **attrs)
        if len(node.input) != 3:
            raise LookupError("a convolution without its bias")
        w, b = (self.weights.get(name) for name in node.input[1:])
        if w is None or b is None or w.shape != tuple(conv.weight.shape):
            raise LookupError(f"convolution {node.output[0]}: weights differ")
        out = node.output[0]
        if relu:
            out = self.node("Relu", [out]).output[0]
        return out, w, b


def _read_weights(path: Path, net: ResNet50) -> dict[str, np.ndarray] | None:
    """The state dict of ``net`` taken from ``path``, or None if it is another graph."""
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
    state: dict[str, np.ndarray] = {}
    names = {id(m): name for name, m in net.named_modules()}
    try:
        x, w, b = walk.conv(RESNET50_INPUT, net.stem, relu=True)
        state["stem.weight"], state["stem.bias"] = w, b
        pool = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
        x = walk.node("MaxPool", [x], **pool).output[0]
        for block in net.blocks:
            assert isinstance(block, Bottleneck)
            short = x
            parts = [block.conv_a, block.conv_b, block.conv_c]
            if block.shortcut is not None:
                short, w, b = walk.conv(x, block.shortcut, relu=False)
                state[f"{names[id(block.shortcut)]}.weight"] = w
                state[f"{names[id(block.shortcut)]}.bias"] = b
            y = x
            for conv in parts:
                y, w, b = walk.conv(y, conv, relu=conv is not block.conv_c)
                state[f"{names[id(conv)]}.weight"], state[f"{names[id(conv)]}.bias"] = w, b
            x = walk.node("Add", [y, short]).output[0]
            x = walk.node("Relu", [x]).output[0]
        x = walk.node("GlobalAveragePool", [x]).output[0]
        x = walk.node("Flatten", [x], axis=1).output[0]
        gemm = walk.node("Gemm", [x], transB=1)
        if len(gemm.input) != 3 or any(k in ("alpha", "beta", "transA") for k in _attrs(gemm)):
            return None
        state["fc.weight"], state["fc.bias"] = (walk.weights[n] for n in gemm.input[1:])
        logits = gemm.output[0]
        walk.node("Softmax", [logits], axis=1)
        walk.node("ArgMax", [logits], axis=1, keepdims=0)
    except (LookupError, KeyError):
        return None
    if walk.pos != len(walk.nodes):
        return None
    return state


def _attrs(node: Any) -> list[str]:
    return [a.name for a in node.attribute]


def load_resnet50_standin(path: Path) -> ResNet50 | None:
    """The stand-in network with the weights of the ONNX file ``path``, or None if
    ``path`` is not the ResNet50 v1.5 stand-in graph."""
    net = ResNet50()
    weights = _read_weights(path, net)
    if weights is None:
        return None
    expected = net.state_dict()
    if set(weights) != set(expected) or any(
        weights[k].shape != tuple(v.shape) for k, v in expected.items()
    ):
        return None
    net.load_state_dict({k: torch.from_numpy(np.array(v, np.float32)) for k, v in weights.items()})
    return net.eval()
