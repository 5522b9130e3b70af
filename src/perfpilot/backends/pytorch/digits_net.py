"""digits-cnn as a torch module, its weights read from the built-in model's ONNX file.

The architecture mirrors ``perfpilot.catalog.digits.to_onnx_bytes``; torch cannot run
ONNX itself, so the pytorch backend rebuilds the network and copies the initializers in,
which lets it run the very weights that onnxruntime runs. Imported only by the backend's
``load``, so torch is never imported for listing or ``--help``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# The graph digits.to_onnx_bytes writes: per node its op, the initializers it reads and
# the attributes that fix the shapes. A file must match all of it to be run as
# digits-cnn, so a different network that happens to reuse these names is refused
# instead of being silently run with the wrong architecture.
_CONV: dict[str, object] = {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}
_GRAPH: list[tuple[str, tuple[str, ...], dict[str, object]]] = [
    ("Conv", ("conv1.weight", "conv1.bias"), _CONV),
    ("Relu", (), {}),
    ("Conv", ("conv2.weight", "conv2.bias"), _CONV),
    ("Relu", (), {}),
    ("MaxPool", (), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("Flatten", (), {"axis": 1}),
    ("Gemm", ("fc1.weight", "fc1.bias"), {"transB": 1}),
    ("Relu", (), {}),
    ("Gemm", ("fc2.weight", "fc2.bias"), {"transB": 1}),
]
_SIDE = 8  # input images are 8x8; the 2x2 pool leaves 4x4 per channel


class DigitsCnn(nn.Module):
    """conv3x3-relu, conv3x3-relu, maxpool2, flatten, linear-relu, linear."""

    def __init__(self, c1: int, c2: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(c2 * (_SIDE // 2) ** 2, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, kernel_size=2, stride=2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        out: torch.Tensor = self.fc2(x)
        return out


def _digits_weights(path: Path) -> dict[str, np.ndarray] | None:
    """The initializers of ``path`` if it is digits-cnn in ONNX, else None."""
    import onnx
    from google.protobuf.message import Error as ProtobufError
    from onnx import helper, numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (ProtobufError, OSError):  # not protobuf, so not ONNX at all
        return None
    nodes = list(model.graph.node)
    if len(nodes) != len(_GRAPH):
        return None
    previous = None
    for node, (op, weights, attrs) in zip(nodes, _GRAPH, strict=True):
        found = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (
            node.op_type != op
            or tuple(node.input[1:]) != weights
            or any(found.get(k) != v for k, v in attrs.items())
            or (previous is not None and node.input[0] != previous)
        ):
            return None
        previous = node.output[0]
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def load_digits_cnn(path: Path) -> DigitsCnn | None:
    """digits-cnn with the weights of the ONNX file ``path``, or None if ``path`` is not
    the built-in digits model (any width of its layers is accepted)."""
    weights = _digits_weights(path)
    if weights is None:
        return None
    c1, c2 = weights["conv1.weight"].shape[0], weights["conv2.weight"].shape[0]
    hidden, classes = weights["fc1.weight"].shape[0], weights["fc2.weight"].shape[0]
    net = DigitsCnn(c1, c2, hidden, classes)
    expected = net.state_dict()
    if set(weights) != set(expected) or any(
        weights[k].shape != tuple(v.shape) for k, v in expected.items()
    ):
        return None
    # Copies: the tensors must own their memory, not borrow the parsed protobuf's.
    net.load_state_dict({k: torch.from_numpy(np.array(v, np.float32)) for k, v in weights.items()})
    return net.eval()
