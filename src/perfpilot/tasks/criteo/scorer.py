"""ROC AUC for DLRM-v2 from ``mlperf_log_accuracy.json``, as the reference's
``tools/accuracy-dlrm.py`` computes it with the ground truth in the log (its default):
de-duplicate by ``qsl_idx``; each response is float32 ``prediction, label`` per row; AUC
over every row (sklearn's ``roc_auc_score``: ties count half), accuracy = rows whose
rounded prediction equals the label. Its last line, which the submission checker reads::

    AUC=80.312%, accuracy=81.234%, good=N, total=N, queries=N
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.errors import PerfpilotError, UsageError
from perfpilot.tasks.common.accuracy_log import read_accuracy_log

TRACE_FILE = "dlrm_trace_of_aggregated_samples.txt"


@dataclass(frozen=True)
class AucResult:
    """AUC in percent (the task metric, ``accuracy``) with the script's other numbers."""

    accuracy: float  # ROC AUC, percent
    click_accuracy: float  # rounded prediction == label, percent
    good: int
    total: int
    queries: int

    def line(self) -> str:
        return (
            f"AUC={self.accuracy:.3f}%, accuracy={self.click_accuracy:.3f}%, "
            f"good={self.good}, total={self.total}, queries={self.queries}"
        )

    def text(self) -> str:
        """The script's whole output (the runner writes it to accuracy.txt)."""
        return (
            "Assuming loadgen accuracy log contains ground truth labels.\n"
            "Parsing loadgen accuracy log...\n"
            "Calculating AUC metric...\n" + self.line() + "\n"
        )


def roc_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of 0/1 ``targets`` ranked by ``scores`` (the
    Mann-Whitney statistic with tied scores given their mean rank; equals sklearn's
    ``roc_auc_score``). A fraction in [0, 1]."""
    y = np.asarray(targets).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(y) != len(s):
        raise ValueError(f"{len(y)} targets for {len(s)} scores")
    if not np.isin(y, (0, 1)).all():
        raise PerfpilotError(
            "AUC needs 0/1 labels; the accuracy log holds others",
            "Check the labels file of the dataset.",
        )
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise PerfpilotError(
            f"AUC is undefined: all {len(y)} labels are {int(y[0]) if len(y) else 0}",
            "Score more samples (a larger --dataset-size) so that both classes occur.",
        )
    if np.isnan(s).any():
        raise PerfpilotError("the model answered NaN for some rows; AUC is undefined")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based ranks, ties averaged
    ranks = mean_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def score_auc(path: Path, sample_rows: np.ndarray | None = None) -> AucResult:
    """Score an accuracy log of (prediction, label) float32 pairs. ``sample_rows``
    (rows per QSL sample) checks that every response holds its sample's rows."""
    seen: set[int] = set()
    results: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for record in read_accuracy_log(path):
        idx = int(record["qsl_idx"])  # type: ignore[call-overload]
        if idx in seen:
            continue
        seen.add(idx)
        data = np.frombuffer(bytes.fromhex(str(record["data"])), dtype=np.float32)
        if data.size % 2:
            raise UsageError(
                f"{path}: sample {idx} holds {data.size} floats, not (prediction, label) pairs",
                "The log was not written by a DLRM run that packs labels with predictions.",
            )
        pairs = data.reshape(-1, 2)
        if (
            sample_rows is not None
            and 0 <= idx < len(sample_rows)
            and len(pairs) != sample_rows[idx]
        ):
            raise PerfpilotError(
                f"{path}: sample {idx} answered {len(pairs)} rows; it has {sample_rows[idx]}"
            )
        results.append(pairs[:, 0])
        targets.append(pairs[:, 1])
    if not seen:
        raise UsageError(f"{path}: the accuracy log is empty", "Run the test in accuracy mode.")
    result = np.concatenate(results)
    target = np.concatenate(targets)
    good = int((np.round(result) == target).sum())
    total = len(result)
    return AucResult(
        accuracy=100.0 * roc_auc(target, result),
        click_accuracy=100.0 * good / total,
        good=good,
        total=total,
        queries=len(seen),
    )


def score_auc_log(path: Path, dataset: Any) -> AucResult:
    """The runner's scorer for the ``AUC`` metric: writes the sample -> rows trace
    beside the log (the reference's ``dlrm_trace_of_aggregated_samples.txt``, needed to
    re-score a log without labels) and scores it."""
    offsets = getattr(dataset, "offsets", None)
    trace = getattr(dataset, "aggregation_trace", None)
    if callable(trace):
        from perfpilot.artifacts import atomic_write_text

        atomic_write_text(path.parent / TRACE_FILE, trace())
    rows = None if offsets is None else np.diff(np.asarray(offsets))
    return score_auc(path, rows)
