"""Shared last step of the models perfpilot builds itself: graph -> checked ONNX bytes."""

from __future__ import annotations

from typing import Any


def model_bytes(graph: Any, producer: str, version: str, opset: int) -> bytes:
    """Wrap ``graph`` in a model (IR 8, the given opset), check it, serialize it
    deterministically (the same graph always gives the same bytes)."""
    import onnx
    from onnx import helper

    model = helper.make_model(
        graph,
        producer_name=producer,
        producer_version=version,
        opset_imports=[helper.make_opsetid("", opset)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString(deterministic=True))
