"""What the speech tasks' WER scorers share: the accuracy log's label dtypes, word edit
distance, the result in the official line's format, and reading a log's label indices
back into (hypothesis, reference) text pairs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfpilot.errors import UsageError
from perfpilot.tasks.common.accuracy_log import read_accuracy_log

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


def label_pairs(
    path: Path,
    transcripts: Sequence[str],
    dtype: str,
    decode: Callable[[np.ndarray], str],
    unit: str,
) -> tuple[list[str], list[str]]:
    """Every record's label indices decoded to text (``decode``), paired with the
    reference transcript of its ``qsl_idx`` (``unit`` names a sample in errors)."""
    if dtype not in DTYPES:
        raise UsageError(f"unknown output dtype {dtype!r}", f"Choose one of: {', '.join(DTYPES)}.")
    hypotheses, references = [], []
    for record in read_accuracy_log(path):
        idx = int(record["qsl_idx"])  # type: ignore[call-overload]
        if not 0 <= idx < len(transcripts):
            raise UsageError(
                f"{path}: qsl_idx {idx} is outside the dataset ({len(transcripts)} {unit})",
                "Score the log with the dataset folder and size the run used.",
            )
        labels = np.frombuffer(bytes.fromhex(str(record["data"])), dtype=DTYPES[dtype])
        hypotheses.append(decode(labels))
        references.append(transcripts[idx])
    if not hypotheses:
        raise UsageError(f"{path} holds no responses", "Run the test in accuracy mode.")
    return hypotheses, references
