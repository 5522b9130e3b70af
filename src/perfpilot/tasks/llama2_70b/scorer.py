"""ROUGE of Llama 2 70B answers, as the reference's ``evaluate-accuracy.py`` computes it:
the first record per ``qsl_idx`` of ``mlperf_log_accuracy.json`` (int32 token ids) is
decoded with the model's tokenizer (special tokens skipped) and scored against the
sample's ``output`` (see :mod:`perfpilot.tasks.common.rouge`); ``gen_len`` counts the
scored predictions' characters, ``gen_tok_len`` their tokens, and ``tokens_per_sample`` is
``gen_tok_len / gen_num`` rounded to 1 place. It prints the same dictionary as the script.

The checker passes a run when ROUGE-1, ROUGE-2 and ROUGE-L reach 99% (99.9%) of the FP16
scores and tokens per sample lies within 90%-110% of 294.45 (:func:`checker_gates`).

The reference decodes with the slow SentencePiece tokenizer (``use_fast=False``); this
decodes with ``tokenizer.json`` (the fast one), which may space a few texts differently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.tasks.common.generation import (
    check_indices,
    decode,
    load_tokenizer,
    read_generations,
)
from perfpilot.tasks.common.rouge import rouge
from perfpilot.tasks.llama2_70b.spec import ROUGE1, ROUGE2, ROUGEL, TOKENS_PER_SAMPLE


@dataclass(frozen=True)
class OrcaResult:
    """The script's figures: ROUGE in percent, lengths, and the sentence splitter used."""

    scores: dict[str, float]
    gen_len: int  # characters over all scored predictions
    gen_num: int
    gen_tok_len: int  # generated tokens over all scored predictions
    note: str = ""

    @property
    def tokens_per_sample(self) -> float:
        return round(self.gen_tok_len / self.gen_num, 1) if self.gen_num else 0.0

    @property
    def accuracy(self) -> float:
        return self.scores["rouge1"]

    @property
    def good(self) -> int:
        return self.gen_num

    @property
    def total(self) -> int:
        return self.gen_num

    def line(self) -> str:
        return str(
            {
                **self.scores,
                "gen_len": self.gen_len,
                "gen_num": self.gen_num,
                "gen_tok_len": self.gen_tok_len,
                "tokens_per_sample": self.tokens_per_sample,
            }
        )

    def text(self) -> str:
        return f"{self.note}\nResults\n\n{self.line()}\n"


def score_texts(
    predictions: Sequence[str], references: Sequence[str], token_counts: Sequence[int]
) -> OrcaResult:
    """The script's figures for decoded predictions, their references and their token
    counts."""
    scored = rouge(predictions, references)
    return OrcaResult(
        scores=scored.scores,
        gen_len=sum(len(p) for p in scored.predictions),
        gen_num=len(scored.predictions),
        gen_tok_len=int(sum(token_counts)),
        note=scored.note(),
    )


def score_generations(
    generations: Sequence[np.ndarray], references: Sequence[str], tokenizer: Any
) -> OrcaResult:
    """Decode token-id answers with ``tokenizer`` (a ``tokenizers.Tokenizer``) and score
    them."""
    texts = decode(tokenizer, generations, skip_special=True)
    return score_texts(texts, references, [len(g) for g in generations])


def score_dataset(log: Path, dataset: Any, tokenizer: Path | None = None) -> OrcaResult:
    """The task scorer: the accuracy log's answers against the dataset's references."""
    tok = load_tokenizer(tokenizer)
    references = dataset.references()
    generations = read_generations(log)
    check_indices(log, generations, len(references))
    return score_generations(
        [ids for _, ids in generations], [references[i] for i, _ in generations], tok
    )


def checker_gates(result: OrcaResult, model: str) -> list[str]:
    """The submission checker's failed accuracy gates for ``model`` (llama2-70b-99 or
    -99.9): an empty list when the run passes."""
    share = 0.999 if model.endswith("99.9") else 0.99
    failed = [
        f"{key} {result.scores[key]} < {round(target * share, 4)}"
        for key, target in (("rouge1", ROUGE1), ("rouge2", ROUGE2), ("rougeL", ROUGEL))
        if result.scores[key] < target * share
    ]
    low, high = TOKENS_PER_SAMPLE * 0.9, TOKENS_PER_SAMPLE * 1.1
    if not low <= result.tokens_per_sample <= high:
        failed.append(f"tokens_per_sample {result.tokens_per_sample} outside {low:.3f}-{high:.3f}")
    return failed
