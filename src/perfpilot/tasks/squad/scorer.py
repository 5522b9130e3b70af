"""SQuAD v1.1 F1 / exact match from ``mlperf_log_accuracy.json``, with the MLPerf BERT
reference's logic: each response is float32 [384, 2] start/end logits; per question the
20 best starts and ends over its windows give candidate spans (inside the document, in
the window that gives the start its max context, end >= start, at most 30 tokens),
ranked by start + end logit; the best one's WordPiece text is projected back onto the
original words; then the official ``evaluate-v1.1`` metric (normalise: lower case, no
punctuation, no articles, single spaces; token-overlap F1; exact match; best over the
accepted answers; both x 100). The output line is the official
``{"exact_match": ..., "f1": ...}``.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from perfpilot.errors import UsageError
from perfpilot.tasks.common.accuracy_log import read_accuracy_log
from perfpilot.tasks.squad.wordpiece import basic_tokenize

N_BEST = 20
MAX_ANSWER_LENGTH = 30
SEQ_LENGTH = 384


class _FeatureInfo(Protocol):
    example_index: int
    tokens: list[str]
    token_to_orig: dict[int, int]
    max_context: dict[int, bool]


class _Example(Protocol):
    qas_id: str
    doc_tokens: tuple[str, ...]
    answers: tuple[str, ...]


class SquadSource(Protocol):
    """What scoring needs of the dataset (``perfpilot.tasks.squad.dataset.SquadDataset``)."""

    examples: list[_Example]

    def feature_info(self, index: int) -> _FeatureInfo: ...


@dataclass(frozen=True)
class SquadResult:
    """F1 and exact match in percent; ``accuracy`` is the F1 the targets judge."""

    exact_match: float
    f1: float
    good: int  # questions answered exactly
    total: int  # questions scored

    @property
    def accuracy(self) -> float:
        return self.f1

    def line(self) -> str:
        return json.dumps({"exact_match": self.exact_match, "f1": self.f1})


# -- the official evaluate-v1.1 metric ---------------------------------------------------


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and the articles a/an/the, collapse spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1_score(prediction: str, truth: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(truth)


def evaluate(
    questions: Iterable[tuple[str, Sequence[str]]], predictions: Mapping[str, str]
) -> tuple[float, float, int, int]:
    """(exact match %, F1 %, exact count, total) over ``(id, answers)``; a question
    without a prediction scores 0, as in the official script."""
    exact = f1 = 0.0
    good = total = 0
    for qas_id, answers in questions:
        total += 1
        if qas_id not in predictions:
            continue
        prediction = predictions[qas_id]
        em = max(float(exact_match_score(prediction, a)) for a in answers) if answers else 0.0
        exact += em
        good += int(em)
        f1 += max(f1_score(prediction, a) for a in answers) if answers else 0.0
    if total == 0:
        return 0.0, 0.0, 0, 0
    return 100.0 * exact / total, 100.0 * f1 / total, good, total


# -- logits -> answer text -----------------------------------------------------------------


def _best_indexes(logits: np.ndarray, n: int) -> list[int]:
    # Stable sort on the negated logits: ties keep the lower index, as Python's sorted.
    return [int(i) for i in np.argsort(-logits, kind="stable")[:n]]


def _strip_spaces(text: str) -> tuple[str, dict[int, int]]:
    chars: list[str] = []
    mapping: dict[int, int] = {}
    for i, char in enumerate(text):
        if char == " ":
            continue
        mapping[len(chars)] = i
        chars.append(char)
    return "".join(chars), mapping


def final_text(pred_text: str, orig_text: str) -> str:
    """Project the normalised prediction back onto the original words' characters
    (casing and accents restored); the whole original span where that fails."""
    tok_text = " ".join(basic_tokenize(orig_text))
    start = tok_text.find(pred_text)
    if start == -1:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns, orig_map = _strip_spaces(orig_text)
    tok_ns, tok_map = _strip_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_inverse = {v: k for k, v in tok_map.items()}
    if start not in tok_inverse or end not in tok_inverse:
        return orig_text
    ns_start, ns_end = tok_inverse[start], tok_inverse[end]
    if ns_start not in orig_map or ns_end not in orig_map:
        return orig_text
    return orig_text[orig_map[ns_start] : orig_map[ns_end] + 1]


def predict_answers(
    source: SquadSource,
    logits: Mapping[int, np.ndarray],
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_LENGTH,
) -> dict[str, str]:
    """The best answer text per question, from each feature's [seq, 2] logits."""
    by_example: dict[int, list[int]] = {}
    infos = {index: source.feature_info(index) for index in logits}
    for index, info in infos.items():
        by_example.setdefault(info.example_index, []).append(index)
    predictions: dict[str, str] = {}
    for example_index in sorted(by_example):
        example = source.examples[example_index]
        candidates: list[tuple[float, int, int, int]] = []  # score, feature, start, end
        for index in sorted(by_example[example_index]):
            info, scores = infos[index], logits[index]
            starts, ends = scores[:, 0], scores[:, 1]
            for s in _best_indexes(starts, n_best):
                for e in _best_indexes(ends, n_best):
                    if s >= len(info.tokens) or e >= len(info.tokens):
                        continue
                    if s not in info.token_to_orig or e not in info.token_to_orig:
                        continue
                    if not info.max_context.get(s, False) or e < s:
                        continue
                    if e - s + 1 > max_answer_length:
                        continue
                    candidates.append((float(starts[s]) + float(ends[e]), index, s, e))
        # Python's sort is stable: equal scores keep their discovery order, as the reference.
        candidates.sort(key=lambda c: c[0], reverse=True)
        answer = "empty"  # the reference's text when no span qualifies
        if candidates:
            _, index, s, e = candidates[0]
            info = infos[index]
            pieces = " ".join(info.tokens[s : e + 1]).replace(" ##", "").replace("##", "")
            pieces = " ".join(pieces.strip().split())
            words = example.doc_tokens[info.token_to_orig[s] : info.token_to_orig[e] + 1]
            answer = final_text(pieces, " ".join(words))
        predictions[example.qas_id] = answer
    return predictions


def read_logits(path: Path, count: int, dtype: str = "float32") -> dict[int, np.ndarray]:
    """QSL index -> [seq, 2] logits, the first response per index (padded with -10000
    where a response is shorter, as the reference)."""
    out: dict[int, np.ndarray] = {}
    for record in read_accuracy_log(path):
        idx = int(record["qsl_idx"])  # type: ignore[call-overload]
        if idx in out:
            continue
        if not 0 <= idx < count:
            raise UsageError(f"{path}: qsl_idx {idx} is outside the dataset (0..{count - 1})")
        raw = np.frombuffer(bytes.fromhex(str(record["data"])), dtype=dtype)
        if raw.size % 2:
            raise UsageError(
                f"{path}: response for qsl_idx {idx} has {raw.size} values, expected pairs "
                "of start/end logits",
                "The model's outputs are not SQuAD logits; check --model.",
            )
        pairs = raw.reshape(-1, 2).astype(np.float64)
        logits = np.full((SEQ_LENGTH, 2), -10000.0)
        logits[: min(len(pairs), SEQ_LENGTH)] = pairs[:SEQ_LENGTH]
        out[idx] = logits
    return out


def score_squad(
    path: Path, source: SquadSource, count: int, predictions_out: Path | None = None
) -> SquadResult:
    """Score an accuracy log over the questions its features come from."""
    logits = read_logits(path, count)
    predictions = predict_answers(source, logits)
    if predictions_out is not None:
        from perfpilot.artifacts import atomic_write_text

        atomic_write_text(predictions_out, json.dumps(predictions, indent=4) + "\n")
    scored_examples = sorted({source.feature_info(i).example_index for i in logits})
    questions = [(source.examples[i].qas_id, source.examples[i].answers) for i in scored_examples]
    exact, f1, good, total = evaluate(questions, predictions)
    return SquadResult(exact_match=exact, f1=f1, good=good, total=total)


def score_dataset(log: Path, dataset: Any) -> Any:
    """The task scorer: F1/EM against the dataset's examples, with predictions.json beside
    the log, as the reference's accuracy-squad.py writes it."""
    return score_squad(log, dataset, dataset.total_count, log.parent / "predictions.json")
