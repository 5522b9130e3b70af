"""A tiny offline stand-in for the MLPerf 3D-UNet (KiTS19), random weights.

It is NOT the MLPerf 3D-UNet: only its ONNX signature is the official one (input
``input`` float32 [N, 1, 128, 128, 128], output ``output`` float32 [N, 3, 128, 128, 128],
dynamic batch as in ``3dunet_kits19_128x128x128_dynbatch.onnx``). Inside, a small
encoder-decoder: 4x average-pool, two 3x3x3 convolutions at 32^3, nearest 4x upsample,
plus a 1x1x1 skip from the input. It costs a few tens of milliseconds a patch on one CPU
core, so tests can run the whole sliding-window pipeline; its DICE means nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfpilot.tasks.common.onnx_build import model_bytes

RECIPE = "3d-unet-standin-tiny/1"
INPUT, OUTPUT = "input", "output"
ROI, CLASSES = 128, 3
_WIDTH = 8  # channels at the bottom
_POOL = 4


def unet_tiny_onnx_bytes(seed: int = 0) -> bytes:
    """The stand-in's ONNX bytes (deterministic for a seed)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = []

    def weight(name: str, shape: tuple[int, ...], fan_in: int) -> str:
        w = rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        inits.append(numpy_helper.from_array(w, name))
        return name

    def bias(name: str, n: int) -> str:
        inits.append(numpy_helper.from_array(np.zeros(n, np.float32), name))
        return name

    pool = _POOL
    nodes = [
        helper.make_node(
            "AveragePool", [INPUT], ["down"], kernel_shape=[pool] * 3, strides=[pool] * 3
        ),
        helper.make_node(
            "Conv",
            ["down", weight("enc/w", (_WIDTH, 1, 3, 3, 3), 27), bias("enc/b", _WIDTH)],
            ["enc"],
            pads=[1] * 6,
        ),
        helper.make_node("Relu", ["enc"], ["enc_relu"]),
        helper.make_node(
            "Conv",
            [
                "enc_relu",
                weight("mid/w", (_WIDTH, _WIDTH, 3, 3, 3), 27 * _WIDTH),
                bias("mid/b", _WIDTH),
            ],
            ["mid"],
            pads=[1] * 6,
        ),
        helper.make_node("Relu", ["mid"], ["mid_relu"]),
        helper.make_node(
            "Conv",
            ["mid_relu", weight("head/w", (CLASSES, _WIDTH, 1, 1, 1), _WIDTH), bias("head/b", 3)],
            ["head"],
        ),
        helper.make_node("Resize", ["head", "", "up/scales"], ["up"], mode="nearest"),
        helper.make_node(
            "Conv",
            [INPUT, weight("skip/w", (CLASSES, 1, 1, 1, 1), 1), bias("skip/b", CLASSES)],
            ["skip"],
        ),
        helper.make_node("Add", ["up", "skip"], [OUTPUT]),
    ]
    inits.append(
        numpy_helper.from_array(np.array([1, 1, pool, pool, pool], np.float32), "up/scales")
    )
    graph = helper.make_graph(
        nodes,
        "3d-unet-standin-tiny",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch_size", 1, ROI, ROI, ROI])],
        [
            helper.make_tensor_value_info(
                OUTPUT, TensorProto.FLOAT, ["batch_size", CLASSES, ROI, ROI, ROI]
            )
        ],
        initializer=inits,
    )
    return model_bytes(graph, "perfpilot-standin", RECIPE, opset=13)


def ensure_unet_standin_tiny() -> Path:
    """The tiny 3D-UNet stand-in's ONNX file (generated on first use, a few KB)."""
    from perfpilot.tasks.common.builtin import ensure_built

    return ensure_built("3d-unet-standin-tiny", RECIPE, unet_tiny_onnx_bytes)
