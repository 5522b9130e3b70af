"""Exact match of DeepSeek-R1 answers, as the reference's ``eval_accuracy.py`` computes it:
the first record per ``qsl_idx`` of ``mlperf_log_accuracy.json`` (int32 token ids) is
decoded with the model's tokenizer (special tokens skipped), stripped, and read by its
sub-dataset's rule (:mod:`perfpilot.tasks.common.exact_match`); ``exact_match`` is the
mean of 100/0 over the samples, ``tokens_per_sample`` the mean generated length. It
prints the script's dictionary after ``Results``.

The checker passes a run at 99% of 81.3582 with tokens per sample within 90%-110% of
3886.2274 (:func:`checker_gates`). LiveCodeBench answers are not executed here (see
:mod:`perfpilot.tasks.common.exact_match`): the output says how many were left unscored."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.errors import UsageError
from perfpilot.tasks.common.exact_match import (
    Check,
    clean,
    evaluate_aime,
    evaluate_math500,
    evaluate_multiple_choice,
    find_check,
    judge,
    parse_aime_answer,
    parse_boxed_math,
)
from perfpilot.tasks.common.generation import (
    check_indices,
    decode,
    load_tokenizer,
    read_generations,
)
from perfpilot.tasks.deepseek_r1.spec import EXACT_MATCH, TOKENS_PER_SAMPLE


def parse_multiple_choice(text: str, last: str = "D") -> str | None:
    """The letter after the last ``ANSWER``/``FINAL ANSWER`` (A to ``last``); for
    MMLU-Pro (A-J) else the last standalone letter."""
    text = clean(text)
    if not text:
        return None
    if text.startswith(("['", '["')) and text.endswith(("']", '"]')):
        text = text[2:-2].strip()
    text = text.replace(r"\n", "\n").replace(r"\'", "'")
    pattern = (
        rf"\b(?:ANSWER|FINAL\s*ANSWER)\b\s*[:=]?\s*(?:\(?\s*([A-{last}])\s*\)?)(?:\s*$|[^A-Za-z])"
    )
    found = list(re.finditer(pattern, text, re.IGNORECASE))
    if found:
        return found[-1].group(1).upper()
    if last == "J":
        letters = list(re.finditer(r"\b([A-J])\b", text, re.IGNORECASE))
        if letters:
            return letters[-1].group(1).upper()
    return None


def parse_code(text: str) -> str | None:
    """The first ```` ```python ```` block (parsed as the reference does; not run here)."""
    match = re.search(r"```python(.*?)```", clean(text), re.DOTALL)
    return match.group(1).strip() if match else None


#: The reference's evaluators, in its lookup order (the first key in the name wins).
CHECKS: dict[str, Check] = {
    "gpqa": Check(
        lambda t: parse_multiple_choice(t, "D"),
        lambda p, g: evaluate_multiple_choice(p, g, "ABCD"),
    ),
    "mmlu_pro": Check(
        lambda t: parse_multiple_choice(t, "J"),
        lambda p, g: evaluate_multiple_choice(p, g, "ABCDEFGHIJ"),
    ),
    "math500": Check(parse_boxed_math, evaluate_math500),
    "aime": Check(parse_aime_answer, evaluate_aime),
    "livecodebench": Check(parse_code, lambda p, g: False),
}


@dataclass(frozen=True)
class ExactMatch:
    """The script's figures, with the per-sub-dataset counts and the unscored samples."""

    correct: int
    samples: int
    tokens_per_sample: float
    by_subset: dict[str, tuple[int, int]] = field(default_factory=dict)  # correct, total
    unscored: int = 0  # LiveCodeBench samples: not executed here

    @property
    def accuracy(self) -> float:
        # the mean of 100/0 per sample (sums of whole numbers: exact, as pandas takes it)
        return 100.0 * self.correct / self.samples if self.samples else 0.0

    @property
    def good(self) -> int:
        return self.correct

    @property
    def total(self) -> int:
        return self.samples

    def line(self) -> str:
        return str(
            {
                "exact_match": self.accuracy,
                "tokens_per_sample": self.tokens_per_sample,
                "num-samples": self.samples,
            }
        )

    def text(self) -> str:
        lines = [
            f"{name} results: {c}/{t} correct ({c / t * 100:.1f}% accuracy)"
            for name, (c, t) in sorted(self.by_subset.items())
        ]
        if self.unscored:
            lines.append(
                f"note: {self.unscored} livecodebench answers were not scored (their code runs "
                "only in LiveCodeBench's sandbox): counted as wrong, so exact_match is a lower "
                "bound"
            )
        return "\n".join(lines) + f"\n\nResults\n\n{self.line()}\n"


def score_texts(
    outputs: Sequence[str],
    subsets: Sequence[str],
    answers: Sequence[Any],
    token_counts: Sequence[int],
) -> ExactMatch:
    """Exact match of decoded answers against the ground truths of their sub-datasets."""
    by_subset: dict[str, list[int]] = {}
    correct = unscored = 0
    for output, subset, truth in zip(outputs, subsets, answers, strict=True):
        key, check = find_check(CHECKS, subset)
        ok, scored = judge(check, key, clean(output), truth)
        counts = by_subset.setdefault(clean(subset).lower(), [0, 0])
        counts[0] += ok
        counts[1] += 1
        correct += ok
        unscored += not scored
    return ExactMatch(
        correct=correct,
        samples=len(outputs),
        tokens_per_sample=float(np.mean(token_counts)) if len(token_counts) else 0.0,
        by_subset={k: (c, t) for k, (c, t) in by_subset.items()},
        unscored=unscored,
    )


def score_dataset(log: Path, dataset: Any, tokenizer: Path | None = None) -> ExactMatch:
    """The task scorer: the accuracy log's answers against the dataset's ground truths."""
    tok = load_tokenizer(tokenizer)
    subsets, answers = dataset.subsets(), dataset.answers()
    generations = read_generations(log)
    check_indices(log, generations, len(subsets))
    texts = decode(tok, [ids for _, ids in generations], skip_special=True)
    try:
        return score_texts(
            texts,
            [subsets[i] for i, _ in generations],
            [answers[i] for i, _ in generations],
            [len(ids) for _, ids in generations],
        )
    except ValueError as err:
        raise UsageError(f"{log}: {err}") from err


def checker_gates(result: ExactMatch) -> list[str]:
    """The submission checker's failed accuracy gates: an empty list when the run passes."""
    failed = []
    if result.accuracy < EXACT_MATCH * 0.99:
        failed.append(f"exact_match {result.accuracy} < {EXACT_MATCH * 0.99:.4f}")
    low, high = TOKENS_PER_SAMPLE * 0.9, TOKENS_PER_SAMPLE * 1.1
    if not low <= result.tokens_per_sample <= high:
        failed.append(f"tokens_per_sample {result.tokens_per_sample} outside {low:.1f}-{high:.1f}")
    return failed
