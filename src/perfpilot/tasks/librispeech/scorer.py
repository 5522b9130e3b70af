"""Word error rate of RNN-T transcripts, as the reference's ``accuracy_eval.py``: every
record of ``mlperf_log_accuracy.json`` is decoded as int64 label indices, mapped to the
28 characters, and compared with the normalised reference transcript of its ``qsl_idx``;
WER = word-level Levenshtein distances summed over all utterances / reference words. It
prints ``Word Error Rate: {wer * 100}%, accuracy={(1 - wer) * 100}%`` (Python's plain
float formatting), the line the submission checker reads the accuracy from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perfpilot.tasks.common.wer import WerResult, label_pairs, levenshtein
from perfpilot.tasks.librispeech.dataset import labels_to_text


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


def score_wer(path: Path, transcripts: Sequence[str], dtype: str = "int64") -> WerResult:
    """Score an accuracy log of RNN-T responses against the normalised transcripts
    (indexed by QSL index)."""
    hypotheses, references = label_pairs(path, transcripts, dtype, labels_to_text, "utterances")
    wer, edits, words = word_error_rate(hypotheses, references)
    return WerResult(wer=wer, edits=edits, words=words, utterances=len(hypotheses))


def score_dataset(log: Path, dataset: Any) -> Any:
    """The task scorer: 100 - WER against the dataset's transcripts."""
    return score_wer(log, dataset.transcripts())
