"""Word error rate of RNN-T transcripts, as the reference's ``accuracy_eval.py``: every
record of ``mlperf_log_accuracy.json`` is decoded as int64 label indices, mapped to the
28 characters, and compared with the normalised reference transcript of its ``qsl_idx``;
WER = word-level Levenshtein distances summed over all utterances / reference words. It
prints ``Word Error Rate: {wer * 100}%, accuracy={(1 - wer) * 100}%`` (Python's plain
float formatting), the line the submission checker reads the accuracy from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.errors import UsageError
from perfpilot.tasks.common.accuracy_log import read_accuracy_log
from perfpilot.tasks.librispeech.dataset import labels_to_text

#: accuracy_eval.py's --output_dtype choices (struct codes of array.array)
DTYPES = {"int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8"}


def levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Edit distance (insertions, deletions, substitutions) between two word lists."""
    if len(a) > len(b):
        a, b = b, a
    current = list(range(len(a) + 1))
    for i, word_b in enumerate(b, start=1):
        previous, current = current, [i] + [0] * len(a)
        for j, word_a in enumerate(a, start=1):
            current[j] = min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word_a != word_b)
            )
    return current[-1]


def word_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, int, int]:
    """(wer, word edits, reference words) over paired texts split on whitespace; the
    reference gives ``inf`` when there are no reference words."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: they must pair up"
        )
    edits = words = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        ref_words = ref.split()
        words += len(ref_words)
        edits += levenshtein(hyp.split(), ref_words)
    return (edits / words if words else float("inf")), edits, words


@dataclass(frozen=True)
class WerResult:
    """WER in [0, ...) with its counts; ``accuracy`` is 100 - WER in percent."""

    wer: float
    edits: int
    words: int
    utterances: int

    @property
    def accuracy(self) -> float:
        return (1.0 - self.wer) * 100.0

    @property
    def good(self) -> int:  # reference words not needing an edit (never below 0)
        return max(0, self.words - self.edits)

    @property
    def total(self) -> int:
        return self.words

    def line(self) -> str:
        return f"Word Error Rate: {self.wer * 100}%, accuracy={(1 - self.wer) * 100}%"


def score_wer(path: Path, transcripts: Sequence[str], dtype: str = "int64") -> WerResult:
    """Score an accuracy log of RNN-T responses against the normalised transcripts
    (indexed by QSL index)."""
    if dtype not in DTYPES:
        raise UsageError(f"unknown output dtype {dtype!r}", f"Choose one of: {', '.join(DTYPES)}.")
    hypotheses, references = [], []
    for record in read_accuracy_log(path):
        idx = int(record["qsl_idx"])  # type: ignore[call-overload]
        if not 0 <= idx < len(transcripts):
            raise UsageError(
                f"{path}: qsl_idx {idx} is outside the dataset ({len(transcripts)} utterances)",
                "Score the log with the dataset folder and size the run used.",
            )
        labels = np.frombuffer(bytes.fromhex(str(record["data"])), dtype=DTYPES[dtype])
        hypotheses.append(labels_to_text(labels))
        references.append(transcripts[idx])
    if not hypotheses:
        raise UsageError(f"{path} holds no responses", "Run the test in accuracy mode.")
    wer, edits, words = word_error_rate(hypotheses, references)
    return WerResult(wer=wer, edits=edits, words=words, utterances=len(hypotheses))


def score_dataset(log: Path, dataset: Any) -> Any:
    """The task scorer: 100 - WER against the dataset's transcripts."""
    return score_wer(log, dataset.transcripts())
