"""BERT stand-ins: an encoder with the MLPerf BERT-large architecture and ONNX signature,
random weights (seeded, so every build gives the same bytes).

Signature of the official ``model.onnx`` (bert_tf_to_pytorch.py export): inputs
``input_ids``, ``input_mask``, ``segment_ids`` (int64 [N, 384]); outputs
``output_start_logits`` and ``output_end_logits`` (float32 [N, 384]).
Architecture (bert_config.json): 24 layers, hidden 1024, 16 heads, intermediate 4096,
vocab 30522, 2 token types, 512 positions; post-norm layers, GELU, a 2-way QA head.

``bert-standin`` is that size (~335 M parameters, ~1.3 GB). ``bert-standin-tiny`` is the
same graph at 2 layers x hidden 128 (for tests and quick checks; not BERT-large).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.tasks.common.onnx_build import model_bytes

INPUTS = ("input_ids", "input_mask", "segment_ids")
OUTPUTS = ("output_start_logits", "output_end_logits")
SEQ = 384


@dataclass(frozen=True)
class BertSize:
    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int = 30522
    positions: int = 512
    types: int = 2


LARGE = BertSize(layers=24, hidden=1024, heads=16, intermediate=4096)
TINY = BertSize(layers=2, hidden=128, heads=2, intermediate=512)


def recipe(size: BertSize) -> str:
    s = size
    return f"bert-standin/l{s.layers}-h{s.hidden}-a{s.heads}-i{s.intermediate}-v{s.vocab}/1"


def bert_onnx_bytes(size: BertSize = LARGE, seed: int = 384) -> bytes:
    """Build the stand-in encoder with a question-answering head."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[object] = []
    inits: list[object] = []
    h, heads = size.hidden, size.heads

    def weight(name: str, shape: tuple[int, ...], std: float = 0.02) -> str:
        data = rng.standard_normal(shape, dtype=np.float32)
        data *= np.float32(std)
        inits.append(numpy_helper.from_array(data, name))
        return name

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def dense(x: str, name: str, cin: int, cout: int) -> str:
        y = node("MatMul", [x, weight(f"{name}/kernel", (cin, cout))], f"{name}/matmul")
        return node("Add", [y, const(f"{name}/bias", np.zeros(cout, np.float32))], name)

    def layer_norm(x: str, name: str) -> str:
        gamma = const(f"{name}/gamma", np.ones(h, np.float32))
        beta = const(f"{name}/beta", np.zeros(h, np.float32))
        return node("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=1e-12)

    # Embeddings: word + position + token type, then layer norm.
    words = node("Gather", [weight("emb/word", (size.vocab, h)), "input_ids"], "emb/words")
    positions = const("emb/position_ids", np.arange(SEQ, dtype=np.int64)[None, :])
    pos = node("Gather", [weight("emb/position", (size.positions, h)), positions], "emb/pos")
    types = node("Gather", [weight("emb/type", (size.types, h)), "segment_ids"], "emb/types")
    x = node("Add", [node("Add", [words, pos], "emb/sum1"), types], "emb/sum")
    x = layer_norm(x, "emb/ln")

    # Additive attention mask: 0 where input_mask is 1, -10000 where it is 0.
    mask = node("Cast", ["input_mask"], "mask/float", to=TensorProto.FLOAT)
    mask = node("Sub", [const("mask/one", np.array(1.0, np.float32)), mask], "mask/inv")
    mask = node("Mul", [mask, const("mask/big", np.array(-10000.0, np.float32))], "mask/add")
    mask = node("Unsqueeze", [mask, const("mask/axes", np.array([1, 2], np.int64))], "mask/4d")

    split_shape = const("shape/heads", np.array([0, 0, heads, h // heads], np.int64))
    merge_shape = const("shape/merge", np.array([0, 0, h], np.int64))
    scale = const("attn/scale", np.array(1.0 / np.sqrt(h // heads), np.float32))
    sqrt2 = const("gelu/sqrt2", np.array(np.sqrt(2.0), np.float32))
    one = const("gelu/one", np.array(1.0, np.float32))
    half = const("gelu/half", np.array(0.5, np.float32))
    for i in range(size.layers):
        p = f"layer{i}"

        def heads_of(t: str, perm: list[int], name: str) -> str:
            r = node("Reshape", [t, split_shape], f"{name}/split")
            return node("Transpose", [r], f"{name}/t", perm=perm)

        q = heads_of(dense(x, f"{p}/q", h, h), [0, 2, 1, 3], f"{p}/qh")
        k = heads_of(dense(x, f"{p}/k", h, h), [0, 2, 3, 1], f"{p}/kh")
        v = heads_of(dense(x, f"{p}/v", h, h), [0, 2, 1, 3], f"{p}/vh")
        scores = node("Mul", [node("MatMul", [q, k], f"{p}/qk"), scale], f"{p}/scaled")
        probs = node("Softmax", [node("Add", [scores, mask], f"{p}/masked")], f"{p}/probs", axis=-1)
        ctx = node(
            "Transpose", [node("MatMul", [probs, v], f"{p}/ctx")], f"{p}/ctx_t", perm=[0, 2, 1, 3]
        )
        ctx = node("Reshape", [ctx, merge_shape], f"{p}/ctx_m")
        attn = dense(ctx, f"{p}/attn_out", h, h)
        x = layer_norm(node("Add", [x, attn], f"{p}/res1"), f"{p}/ln1")
        mid = dense(x, f"{p}/ffn_in", h, size.intermediate)
        erf = node("Erf", [node("Div", [mid, sqrt2], f"{p}/gelu_div")], f"{p}/gelu_erf")
        gate = node("Mul", [node("Add", [erf, one], f"{p}/gelu_add"), half], f"{p}/gelu_gate")
        act = node("Mul", [mid, gate], f"{p}/gelu")
        out = dense(act, f"{p}/ffn_out", size.intermediate, h)
        x = layer_norm(node("Add", [x, out], f"{p}/res2"), f"{p}/ln2")

    logits = dense(x, "qa", h, 2)
    split = const("qa/split", np.array([1, 1], np.int64))
    nodes.append(helper.make_node("Split", [logits, split], ["qa/start", "qa/end"], axis=-1))
    last = const("qa/axis", np.array([-1], np.int64))
    node("Squeeze", ["qa/start", last], OUTPUTS[0])
    node("Squeeze", ["qa/end", last], OUTPUTS[1])

    graph = helper.make_graph(
        nodes,  # type: ignore[arg-type]
        "bert-standin",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch_size", SEQ]) for n in INPUTS],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch_size", SEQ]) for n in OUTPUTS],
        initializer=inits,  # type: ignore[arg-type]
    )
    return model_bytes(graph, "perfpilot-standin", recipe(size), opset=17)


def ensure_bert_standin() -> Path:
    """The BERT-large stand-in's ONNX file (generated on first use, ~1.3 GB)."""
    from perfpilot.tasks.common.builtin import ensure_built

    return ensure_built("bert-standin", recipe(LARGE), lambda: bert_onnx_bytes(LARGE))


def ensure_bert_standin_tiny() -> Path:
    """The small BERT stand-in (2 layers, hidden 128) for tests and quick checks."""
    from perfpilot.tasks.common.builtin import ensure_built

    return ensure_built("bert-standin-tiny", recipe(TINY), lambda: bert_onnx_bytes(TINY))
