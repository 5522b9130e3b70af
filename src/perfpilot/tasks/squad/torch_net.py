"""BERT with a question-answering head as a torch module whose parameter names are those of
HuggingFace ``BertForQuestionAnswering``, so the official MLPerf ``model.pytorch`` state
dict (``bert_tf_to_pytorch.py``: ``torch.save(model.state_dict())``) loads as it is,
without transformers.

The network is the reference's (``language/bert/bert_config.json``): post-norm encoder
layers, GELU with erf, layer norm eps 1e-12, an additive attention mask of -10000 where
``input_mask`` is 0 (as the ONNX export of that model), heads of 64 channels, and a
``qa_outputs`` linear layer whose two outputs are the start and end logits. Sizes
(layers, hidden, vocabulary, positions, token types, intermediate) come from the state
dict's shapes, so a small state dict loads too. Imported only by the backend's ``load``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from perfpilot.errors import UsageError

HEAD_SIZE = 64  # BERT-large: hidden 1024 = 16 heads x 64
LAYER_NORM_EPS = 1e-12
MASKED = -10000.0  # added to the attention scores of padding tokens

#: Keys of HF checkpoints that the QA network does not use: the pooler (BertModel builds it
#: unless add_pooling_layer=False) and the position_ids buffer of some versions.
IGNORED_KEYS = (
    "bert.pooler.dense.weight",
    "bert.pooler.dense.bias",
    "bert.embeddings.position_ids",
)


@dataclass(frozen=True)
class BertShape:
    """The sizes of a BERT QA state dict, read from its tensors' shapes."""

    layers: int
    hidden: int
    intermediate: int
    vocab: int
    positions: int
    types: int

    @property
    def heads(self) -> int:
        return self.hidden // HEAD_SIZE

    def build(self) -> BertForQuestionAnswering:
        return BertForQuestionAnswering(self)


class _SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, seq, hidden = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # [n, seq, hidden] -> [n, heads, seq, d]
            return t.view(n, seq, self.heads, hidden // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        # SDPA scales the scores by 1/sqrt(head size), as BERT does.
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return ctx.transpose(1, 2).reshape(n, seq, hidden)


class _DenseNorm(nn.Module):
    """``dense`` then ``LayerNorm(residual + ...)``: BertSelfOutput and BertOutput."""

    def __init__(self, cin: int, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(cin, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.LayerNorm(self.dense(x) + residual)
        return out


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.self = _SelfAttention(hidden, heads)
        self.output = _DenseNorm(hidden, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.output(self.self(x, mask), x)
        return out


class _Intermediate(nn.Module):
    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # the exact (erf) GELU, as hidden_act "gelu"


class _Layer(nn.Module):
    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        self.attention = _Attention(shape.hidden, shape.heads)
        self.intermediate = _Intermediate(shape.hidden, shape.intermediate)
        self.output = _DenseNorm(shape.intermediate, shape.hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask)
        out: torch.Tensor = self.output(self.intermediate(x), x)
        return out


class _Encoder(nn.Module):
    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(shape) for _ in range(shape.layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, mask)
        return x


class _Embeddings(nn.Module):
    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(shape.vocab, shape.hidden)
        self.position_embeddings = nn.Embedding(shape.positions, shape.hidden)
        self.token_type_embeddings = nn.Embedding(shape.types, shape.hidden)
        self.LayerNorm = nn.LayerNorm(shape.hidden, eps=LAYER_NORM_EPS)

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)[None]
            + self.token_type_embeddings(segment_ids)
        )
        out: torch.Tensor = self.LayerNorm(x)
        return out


class _Bert(nn.Module):
    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        self.embeddings = _Embeddings(shape)
        self.encoder = _Encoder(shape)


class BertForQuestionAnswering(nn.Module):
    """``forward(input_ids, input_mask, segment_ids)`` (int64 ``[N, seq]``) returns the
    start and end logits (float32 ``[N, seq]`` each)."""

    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        self.shape = shape
        self.bert = _Bert(shape)
        self.qa_outputs = nn.Linear(shape.hidden, 2)

    def forward(
        self, input_ids: torch.Tensor, input_mask: torch.Tensor, segment_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.bert.embeddings(input_ids, segment_ids)
        # [N, 1, 1, seq]: every query position sees the same padding.
        mask = (1.0 - input_mask[:, None, None, :].to(x.dtype)) * MASKED
        x = self.bert.encoder(x, mask)
        logits = self.qa_outputs(x)
        return logits[..., 0].contiguous(), logits[..., 1].contiguous()

    def arrange_feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
        """``forward``'s arguments from named feeds (HF's names ``attention_mask``,
        ``token_type_ids`` too)."""
        return [_feed(feeds, names) for names in BERT_INPUTS]


#: BERT's inputs in the order of its forward(), each with the names that may carry it.
BERT_INPUTS = (
    ("input_ids",),
    ("input_mask", "attention_mask"),
    ("segment_ids", "token_type_ids"),
)


def _feed(feeds: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    for name in names:
        if name in feeds:
            return feeds[name]
    raise UsageError(
        f"BERT needs an input named {' or '.join(names)}; the task feeds {', '.join(feeds)}",
        "Run it as --model bert-99-pytorch on the SQuAD task.",
    )


def bert_shape(state: Mapping[str, Any]) -> BertShape:
    """The sizes of an HF BertForQuestionAnswering state dict. Raises ValueError naming
    what does not fit."""
    prefix = "bert.embeddings."
    needed = (
        f"{prefix}word_embeddings.weight",
        f"{prefix}position_embeddings.weight",
        f"{prefix}token_type_embeddings.weight",
        "bert.encoder.layer.0.intermediate.dense.weight",
        "qa_outputs.weight",
    )
    for key in needed:
        if key not in state:
            raise ValueError(f"it has no {key}")
    vocab, hidden = (int(d) for d in state[needed[0]].shape)
    if hidden % HEAD_SIZE:
        raise ValueError(
            f"its hidden size {hidden} is not a multiple of BERT's {HEAD_SIZE}-channel heads"
        )
    layers = 0
    while f"bert.encoder.layer.{layers}.attention.self.query.weight" in state:
        layers += 1
    return BertShape(
        layers=layers,
        hidden=hidden,
        intermediate=int(state[needed[3]].shape[0]),
        vocab=vocab,
        positions=int(state[needed[1]].shape[0]),
        types=int(state[needed[2]].shape[0]),
    )


def describe(shape: BertShape) -> str:
    """``24 layers, hidden 1024, 16 heads`` for messages."""
    return f"{shape.layers} layers, hidden {shape.hidden}, {shape.heads} heads"
