"""ROUGE of Llama 3.1 8B summaries, as the reference's ``evaluation.py`` computes it.

Every record of ``mlperf_log_accuracy.json`` (first record per ``qsl_idx``) holds the
generated token ids (int32); they are decoded with the model's tokenizer (special tokens
skipped), stripped and split into sentences one per line, as are the reference
summaries; ROUGE-1/2/L/Lsum F-measures come from ``rouge_score`` with stemming, averaged
over samples, x100, rounded to 4 places. ``gen_len`` is the predictions' total length in
characters and ``gen_num`` their count: the checker gates on ``gen_len`` as well as ROUGE.
Sentences are split as :mod:`perfpilot.tasks.common.rouge` says (never downloading)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.tasks.common import rouge as _rouge
from perfpilot.tasks.common.generation import (
    check_indices,
    decode,
    load_tokenizer,
    read_generations,
)


@dataclass(frozen=True)
class RougeResult:
    """The reference's figures: ROUGE F-measures in percent, and the length gate's."""

    scores: dict[str, float]
    gen_len: int  # characters over all predictions
    gen_num: int
    note: str = ""  # where sentences were not split as the reference splits them

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
        # evaluation.py prints ROUGE as strings and the counts as integers
        fields = {k: f"{v}" for k, v in self.scores.items()}
        return str({**fields, "gen_len": self.gen_len, "gen_num": self.gen_num})

    def text(self) -> str:
        return f"{self.note}\nResults\n\n{self.line()}\n"


def rouge(predictions: Sequence[str], references: Sequence[str]) -> RougeResult:
    """ROUGE as ``evaluation.py`` reports it, for paired texts."""
    scored = _rouge.rouge(predictions, references)
    gen_len = sum(len(p) for p in scored.predictions)  # the split texts, as the script's
    return RougeResult(scored.scores, gen_len, len(scored.predictions), scored.note())


def score_dataset(log: Path, dataset: Any, tokenizer: Path | None = None) -> RougeResult:
    """Decode every generation with the model's tokenizer and score it against the
    dataset's reference summaries."""
    tok = load_tokenizer(tokenizer)
    generations = read_generations(log)
    references = dataset.references()
    check_indices(log, generations, len(references))
    texts = decode(tok, [ids for _, ids in generations], skip_special=True)
    return rouge(texts, [references[i] for i, _ in generations])
