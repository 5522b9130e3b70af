"""Exact match of gpt-oss-120b answers, as the reference's ``eval_mlperf_accuracy.py``
computes it: every record of ``mlperf_log_accuracy.json`` (int32 token ids) is decoded
with the model's tokenizer keeping special tokens (the Harmony channel markers), and read
by its sub-dataset's rule: multiple-choice letters from the ``final`` channel first,
``\\boxed{}`` MATH answers, AIME integers (:mod:`perfpilot.tasks.common.exact_match`).
The score weighs each sub-dataset by its repeats in the accuracy set (AIME25 x8,
GPQA-Diamond x5, LiveCodeBench v6 x3): ``sum(correct / repeats) / sum(total / repeats)``,
printed as the script prints it, ending in the ``'exact_match': NN.NNN`` line the
submission checker reads (target: 99% of 83.13).

LiveCodeBench answers are not executed here (see the module above): the report says how
many were left unscored; they count as wrong."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

#: Each sub-dataset's repeats in the accuracy set (the reference's DATASET_REPEATS).
REPEATS = {"aime25": 8, "gpqa_diamond": 5, "livecodebench_v6": 3}
_FINAL = re.compile(r"<\|channel\|>final[^<]*<\|message\|>(.*?)(?:<\|return\|>|$)", re.DOTALL)


def final_section(text: str) -> str:
    """The Harmony ``final`` channel's text (markers with stray characters accepted), or
    the whole text where there is none."""
    text = clean(text)
    match = _FINAL.search(text)
    return match.group(1).strip() if match else text


def parse_multiple_choice(text: str, last: str = "D") -> str | None:
    """A letter A to ``last``: leading the final channel, else after ``Answer`` in it,
    else after the last ``ANSWER``/``FINAL ANSWER`` anywhere; for A-J, else the final
    channel's last standalone letter."""
    text = clean(text)
    if not text:
        return None
    final = re.sub(r"\*\*([^*]+)\*\*", r"\1", final_section(text))  # **A** -> A
    if final.startswith(("['", '["')) and final.endswith(("']", '"]')):
        final = final[2:-2].strip()
    final = final.replace(r"\n", "\n").replace(r"\'", "'")
    lead = re.match(rf"^[^a-zA-Z]*([A-{last}])(?:[^a-zA-Z]|$)", final.strip(), re.IGNORECASE)
    if lead:
        return lead.group(1).upper()
    after = re.search(rf"\b(?:Answer|ANSWER)\s*[:.]?\s*([A-{last}])\b", final, re.IGNORECASE)
    if after:
        return after.group(1).upper()
    full = text.replace(r"\n", "\n").replace(r"\'", "'")
    pattern = (
        rf"\b(?:ANSWER|FINAL\s*ANSWER)\b\s*[:=]?\s*(?:\(?\s*([A-{last}])\s*\)?)(?:\s*$|[^A-Za-z])"
    )
    found = list(re.finditer(pattern, full, re.IGNORECASE))
    if found:
        return found[-1].group(1).upper()
    if last == "J":
        letters = list(re.finditer(rf"\b([A-{last}])\b", final, re.IGNORECASE))
        if letters:
            return letters[-1].group(1).upper()
    return None


def _last_block(text: str) -> str | None:
    python = re.findall(r"```python(.*?)```", text, re.DOTALL)
    if python:
        return str(python[-1]).strip()
    plain = re.findall(r"```(.*?)```", text, re.DOTALL)
    if plain:
        return re.sub(r"^(?:python|py)\s*\n", "", str(plain[-1]).strip(), flags=re.IGNORECASE)
    return None


def parse_code(text: str) -> str | None:
    """The last code block of the final channel, else of the whole text (parsed as the
    reference does; not run here)."""
    text = clean(text)
    if not text:
        return None
    final = final_section(text)
    if final != text:
        code = _last_block(final)
        if code is not None:
            return code
    return _last_block(text)


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
    "mmlu": Check(
        lambda t: parse_multiple_choice(t, "J"),
        lambda p, g: evaluate_multiple_choice(p, g, "ABCDEFGHIJ"),
    ),
}


@dataclass(frozen=True)
class WeightedMatch:
    """Correct and total answers per sub-dataset (lower-cased name), and the unscored."""

    by_subset: dict[str, tuple[int, int]] = field(default_factory=dict)
    unscored: int = 0

    def _weighted(self) -> tuple[float, float]:
        score = sum(c / REPEATS.get(n, 1) for n, (c, _) in self.by_subset.items())
        most = sum(t / REPEATS.get(n, 1) for n, (_, t) in self.by_subset.items())
        return score, most

    @property
    def accuracy(self) -> float:
        score, most = self._weighted()
        return score / most * 100 if most > 0 else 0.0

    @property
    def good(self) -> int:
        return sum(c for c, _ in self.by_subset.values())

    @property
    def total(self) -> int:
        return sum(t for _, t in self.by_subset.values())

    def line(self) -> str:
        return f"'exact_match': {self.accuracy:.3f}"

    def text(self) -> str:
        rule, thin = "=" * 80, "-" * 80
        raw = self.good / self.total * 100 if self.total else 0.0
        out = [
            "", rule, "MLPerf Accuracy Evaluation Results", rule,
            f"Total samples evaluated: {self.total}",
            f"Overall raw accuracy: {raw:.2f}% ({self.good}/{self.total})", rule,
            "", "Per-Dataset Breakdown:", thin,
            f"{'Dataset':25s} {'Correct':>8s} {'Total':>8s} {'Repeats':>8s} {'Score':>10s} "
            f"{'Accuracy':>10s}",
            thin,
        ]  # fmt: skip
        names = sorted(self.by_subset)
        for name in names:
            c, t = self.by_subset[name]
            r = REPEATS.get(name, 1)
            out.append(f"{name:25s} {c:8d} {t:8d} {r:8d} {c / r:10.2f} {c / t * 100:9.2f}%")
        score, most = self._weighted()
        parts = [(n, *self.by_subset[n], REPEATS.get(n, 1)) for n in names]
        out += [
            rule, "", "Final Score Calculation:", thin,
            f"Formula: {' + '.join(f'{n}/{r}' for n, _, _, r in parts)}",
            f"Score:   = {' + '.join(f'{c}/{r}' for _, c, _, r in parts)}",
            f"         = {' + '.join(f'{c / r:.2f}' for _, c, _, r in parts)}",
            f"         = {score:.2f}",
            f"Max:     = {' + '.join(f'{t}/{r}' for _, _, t, r in parts)}",
            f"         = {most:.2f}",
            "", f"FINAL SCORE: {self.accuracy:.2f}% ({score:.2f}/{most:.2f})", rule,
        ]  # fmt: skip
        if self.unscored:
            out.append(
                f"note: {self.unscored} livecodebench answers were not scored (their code runs "
                "only in LiveCodeBench's sandbox): counted as wrong, so the score is a lower "
                "bound"
            )
        out += ["", "", "Printing for submission_checker:", "", self.line()]
        return "\n".join(out) + "\n"


def score_texts(
    outputs: Sequence[str], subsets: Sequence[str], answers: Sequence[Any]
) -> WeightedMatch:
    """The weighted exact match of decoded answers against their ground truths."""
    counts: dict[str, list[int]] = {}
    unscored = 0
    for output, subset, truth in zip(outputs, subsets, answers, strict=True):
        key, check = find_check(CHECKS, subset)
        ok, scored = judge(check, key, output, truth)
        tally = counts.setdefault(clean(subset).lower(), [0, 0])
        tally[0] += ok
        tally[1] += 1
        unscored += not scored
    return WeightedMatch({k: (c, t) for k, (c, t) in counts.items()}, unscored)


def score_dataset(log: Path, dataset: Any, tokenizer: Path | None = None) -> WeightedMatch:
    """The task scorer: every record of the accuracy log against the dataset's answers."""
    tok = load_tokenizer(tokenizer)
    subsets, answers = dataset.subsets(), dataset.answers()
    generations = read_generations(log, first_only=False)  # the reference keeps every record
    check_indices(log, generations, len(subsets))
    texts = decode(tok, [ids for _, ids in generations], skip_special=False)
    try:
        return score_texts(
            texts, [subsets[i] for i, _ in generations], [answers[i] for i, _ in generations]
        )
    except ValueError as err:
        raise UsageError(f"{log}: {err}") from err
