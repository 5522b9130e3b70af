"""digits-cnn's ONNX graph read back as weights, for backends that rebuild the network in
their own framework (pytorch, tensorflow, tflite). Needs only onnx: no framework import.

The whole graph must match node by node (op, weight inputs, attributes, data flow) and
every weight must have the shape its neighbours imply, so a different network that
happens to reuse the weight names is refused instead of being run with the wrong
architecture. Any layer widths are accepted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_SIDE = 8  # input images are 8x8; the 2x2 pool leaves 4x4 per channel
_CONV: dict[str, list[int] | int] = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
# digits-cnn's ONNX graph, node by node: op type, weight inputs, attributes that must hold.
_GRAPH: tuple[tuple[str, tuple[str, ...], dict[str, list[int] | int]], ...] = (
    ("Conv", ("conv1.weight", "conv1.bias"), _CONV),
    ("Relu", (), {}),
    ("Conv", ("conv2.weight", "conv2.bias"), _CONV),
    ("Relu", (), {}),
    ("MaxPool", (), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("Flatten", (), {"axis": 1}),
    ("Gemm", ("fc1.weight", "fc1.bias"), {"transB": 1}),
    ("Relu", (), {}),
    ("Gemm", ("fc2.weight", "fc2.bias"), {"transB": 1}),
)


def onnx_digits_weights(path: Path) -> dict[str, np.ndarray] | None:
    """The weights of ``path`` if it is the built-in digits-cnn in ONNX (any layer
    widths), else None. The whole graph must match, so a different network that reuses
    the weight names is not mistaken for it."""
    import onnx
    from google.protobuf.message import Error as ProtobufError
    from onnx import helper, numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (ProtobufError, OSError, ValueError):
        return None
    nodes = list(model.graph.node)
    if len(nodes) != len(_GRAPH) or len(model.graph.input) < 1:
        return None
    flowing = model.graph.input[0].name
    for node, (op, weights, attrs) in zip(nodes, _GRAPH, strict=True):
        got = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != op or tuple(node.input) != (flowing, *weights):
            return None
        if any(got.get(key) != value for key, value in attrs.items()):
            return None
        flowing = node.output[0]
    found = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in model.graph.initializer}
    names = {w for _, ws, _ in _GRAPH for w in ws}
    if set(found) != names:
        return None
    c1, c2 = found["conv1.weight"].shape[0], found["conv2.weight"].shape[0]
    hidden, classes = found["fc1.weight"].shape[0], found["fc2.weight"].shape[0]
    shapes = {
        "conv1.weight": (c1, 1, 3, 3),
        "conv1.bias": (c1,),
        "conv2.weight": (c2, c1, 3, 3),
        "conv2.bias": (c2,),
        "fc1.weight": (hidden, c2 * (_SIDE // 2) ** 2),
        "fc1.bias": (hidden,),
        "fc2.weight": (classes, hidden),
        "fc2.bias": (classes,),
    }
    if any(found[k].shape != v for k, v in shapes.items()):
        return None
    return found
