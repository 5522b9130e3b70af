"""DLRM-v2 stand-ins: the reference's DLRM-DCNv2 structure, small, random weights.

The ONNX signature perfpilot feeds on the ``criteo`` task (a user's ``--model-path``
must have it too):

- input ``dense_features``: float32 [N, 13], the dense features as the files hold them;
- input ``sparse_features``: int64 [N, 214], the multi-hot ids of the 26 tables side by
  side in table order (3, 2, 1, 2, 6, ... ids: ``criteo.MULTI_HOT_SIZES``), raw as the
  files hold them (the model reduces them to its tables' sizes if it needs to);
- output (the first): float32 [N, 1] or [N], the click probability (sigmoid applied, as
  the reference backend applies ``torch.sigmoid`` to the model's logit).

The stand-in follows torchrec's ``DLRM_DCN``: a bottom MLP on the dense features (ReLU
after every layer, last width = embedding size), one sum-pooled embedding bag per table
(ids taken modulo the stand-in's small table sizes), the dense vector and the 26 pooled
embeddings concatenated, a low-rank cross network (``x_{l+1} = x_0 * (W_l V_l x_l + b_l)
+ x_l``), a top MLP whose last layer is linear, and a sigmoid. Only the widths are small.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.tasks.common.onnx_build import model_bytes
from perfpilot.tasks.criteo.dataset import (
    DENSE_COUNT,
    MULTI_HOT_SIZES,
    NUM_EMBEDDINGS,
    SPARSE_WIDTH,
    TABLE_COUNT,
)

DENSE_INPUT = "dense_features"
SPARSE_INPUT = "sparse_features"
OUTPUT = "probability"
INPUT_NAMES = (DENSE_INPUT, SPARSE_INPUT)


@dataclass(frozen=True)
class DlrmShape:
    """Widths of a DLRM-DCNv2 (the official: embedding 128, bottom 512-256-128, 3 cross
    layers of rank 512, top 1024-1024-512-256-1, tables up to 40 M rows)."""

    embedding_dim: int
    max_rows: int  # each table has min(official rows, max_rows) rows
    bottom: tuple[int, ...]
    cross_layers: int
    low_rank: int
    top: tuple[int, ...]

    def recipe(self, name: str) -> str:
        parts = (
            self.embedding_dim,
            self.max_rows,
            "-".join(map(str, self.bottom)),
            self.cross_layers,
            self.low_rank,
            "-".join(map(str, self.top)),
        )
        return f"{name}/" + "/".join(map(str, parts)) + "/v1"


TINY = DlrmShape(
    embedding_dim=16,
    max_rows=1000,
    bottom=(64, 32, 16),
    cross_layers=3,
    low_rank=32,
    top=(64, 32, 1),
)


def table_rows(shape: DlrmShape) -> tuple[int, ...]:
    """The stand-in's rows per table: the official count, capped."""
    return tuple(min(n, shape.max_rows) for n in NUM_EMBEDDINGS)


def dlrm_onnx_bytes(shape: DlrmShape = TINY, seed: int = 2) -> bytes:
    """Build a DLRM-DCNv2-shaped ONNX model with random weights."""
    from onnx import TensorProto, helper, numpy_helper

    if shape.bottom[-1] != shape.embedding_dim or shape.top[-1] != 1:
        raise ValueError("the bottom MLP must end at the embedding size and the top MLP at 1")
    rng = np.random.default_rng(seed)
    nodes: list[object] = []
    inits: list[object] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def normal(shape_: tuple[int, ...], std: float) -> np.ndarray:
        return (rng.standard_normal(shape_) * std).astype(np.float32)

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def mlp(x: str, width: int, layers: tuple[int, ...], prefix: str, last_relu: bool) -> str:
        for i, out in enumerate(layers):
            w = const(f"{prefix}.{i}.weight", normal((width, out), np.sqrt(2.0 / width)))
            b = const(f"{prefix}.{i}.bias", np.zeros(out, np.float32))
            x = node("Gemm", [x, w, b], f"{prefix}.{i}")
            if last_relu or i < len(layers) - 1:
                x = node("Relu", [x], f"{prefix}.{i}.relu")
            width = out
        return x

    d = shape.embedding_dim
    # Sparse: every id column to its own table's rows (modulo), then into one stacked
    # table; a 0/1 [214, 26] matrix sums each table's ids (sum pooling, as EmbeddingBag).
    rows = table_rows(shape)
    column_rows = np.repeat(np.asarray(rows, np.int64), MULTI_HOT_SIZES)
    first_row = np.repeat(np.cumsum((0, *rows[:-1])).astype(np.int64), MULTI_HOT_SIZES)
    pool = np.zeros((SPARSE_WIDTH, TABLE_COUNT), np.float32)
    pool[np.arange(SPARSE_WIDTH), np.repeat(np.arange(TABLE_COUNT), MULTI_HOT_SIZES)] = 1.0
    ids = node("Mod", [SPARSE_INPUT, const("sparse.table_rows", column_rows)], "sparse.ids")
    ids = node("Add", [ids, const("sparse.table_start", first_row)], "sparse.rows")
    tables = const("embedding_bags.weight", normal((sum(rows), d), 1.0 / np.sqrt(d)))
    looked_up = node("Gather", [tables, ids], "sparse.embeddings", axis=0)  # [N, 214, d]
    by_dim = node("Transpose", [looked_up], "sparse.by_dim", perm=[0, 2, 1])
    pooled = node("MatMul", [by_dim, const("sparse.pool", pool)], "sparse.pooled")  # [N, d, 26]
    pooled = node("Transpose", [pooled], "sparse.pooled_t", perm=[0, 2, 1])  # [N, 26, d]
    flat_shape = const("sparse.flat_shape", np.asarray([0, TABLE_COUNT * d], np.int64))
    sparse = node("Reshape", [pooled, flat_shape], "sparse.flat")

    dense = mlp(DENSE_INPUT, DENSE_COUNT, shape.bottom, "dense_arch", last_relu=True)
    x0 = node("Concat", [dense, sparse], "inter_arch.x0", axis=1)  # [N, 27 d]
    width = (TABLE_COUNT + 1) * d
    x = x0
    for layer in range(shape.cross_layers):
        v = const(f"crossnet.V.{layer}", normal((width, shape.low_rank), 0.3 / np.sqrt(width)))
        w = const(
            f"crossnet.W.{layer}", normal((shape.low_rank, width), 0.3 / np.sqrt(shape.low_rank))
        )
        b = const(f"crossnet.bias.{layer}", np.zeros(width, np.float32))
        low = node("MatMul", [x, v], f"crossnet.{layer}.low")
        up = node("MatMul", [low, w], f"crossnet.{layer}.up")
        up = node("Add", [up, b], f"crossnet.{layer}.biased")
        scaled = node("Mul", [x0, up], f"crossnet.{layer}.scaled")
        x = node("Add", [scaled, x], f"crossnet.{layer}.out")
    logit = mlp(x, width, shape.top, "over_arch", last_relu=False)
    node("Sigmoid", [logit], OUTPUT)

    graph = helper.make_graph(
        nodes,  # type: ignore[arg-type]
        "dlrm-v2-dcn-standin",
        [
            helper.make_tensor_value_info(DENSE_INPUT, TensorProto.FLOAT, ["N", DENSE_COUNT]),
            helper.make_tensor_value_info(SPARSE_INPUT, TensorProto.INT64, ["N", SPARSE_WIDTH]),
        ],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", 1])],
        initializer=inits,  # type: ignore[arg-type]
    )
    return model_bytes(graph, "perfpilot-standin", shape.recipe("dlrm-v2-standin"), opset=13)


def ensure_dlrm_standin_tiny() -> Path:
    """The small DLRM-v2 stand-in's ONNX file (generated on first use, ~1 MB)."""
    from perfpilot.tasks.common.builtin import ensure_built

    return ensure_built(
        "dlrm-v2-standin-tiny", TINY.recipe("dlrm-v2-standin-tiny"), dlrm_onnx_bytes
    )


def check_dlrm_signature(path: Path, inputs: list[object], outputs: list[object]) -> None:
    """Raise a one-line error unless an ONNX graph's inputs and first output are the
    signature above (``inputs`` without initializers)."""
    from perfpilot.errors import ModelFileError

    def dims(value: object) -> list[int | None]:
        shape = value.type.tensor_type.shape  # type: ignore[attr-defined]
        return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]

    want = {DENSE_INPUT: (1, DENSE_COUNT, "float32"), SPARSE_INPUT: (7, SPARSE_WIDTH, "int64")}
    names = [i.name for i in inputs]  # type: ignore[attr-defined]
    if sorted(names) != sorted(want):
        raise ModelFileError(
            f"{path} has inputs {', '.join(names) or 'none'}; the criteo task feeds "
            f"{DENSE_INPUT} (float32 [N, {DENSE_COUNT}]) and {SPARSE_INPUT} (int64 "
            f"[N, {SPARSE_WIDTH}])",
            "Export the DLRM with these two inputs (docs/usage.md, DLRM-v2).",
        )
    type_names = {1: "float32", 6: "int32", 7: "int64", 10: "float16", 11: "float64"}
    for value in inputs:
        name: str = value.name  # type: ignore[attr-defined]
        elem_type: int = value.type.tensor_type.elem_type  # type: ignore[attr-defined]
        elem, width, kind = want[name]
        d = dims(value)
        if elem_type != elem or len(d) != 2 or d[1] not in (None, width):
            shown = "[" + ", ".join("N" if x is None else str(x) for x in d) + "]"
            found = type_names.get(elem_type, f"ONNX type {elem_type}")
            raise ModelFileError(
                f"{path}: input {name!r} is {found} {shown}; the criteo task feeds {kind} "
                f"[N, {width}]",
                "Use a model made for this task.",
            )
    out = dims(outputs[0]) if outputs else []
    if not outputs or len(out) not in (1, 2) or (len(out) == 2 and out[1] not in (None, 1)):
        raise ModelFileError(
            f"{path}: the first output must be the click probability, [N, 1] or [N]",
            "Use a model made for this task.",
        )
