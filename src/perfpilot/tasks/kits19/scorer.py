"""Mean composite DICE for 3D-UNet on KiTS19, like the reference's ``accuracy_kits.py``.

Each response is a case's uint8 label volume (D * H * W bytes), reshaped to the case's
``image_shape`` from ``preprocessed_files.pkl``. Per case and per foreground class
(kidney = 1, tumour = 2; background left out), on one-hot volumes::

    DICE = (2 * |pred & truth| + 1e-6) / (|truth| + |pred| + 1e-6)

The case's composite is the mean of its two; the reported figures are the means over
cases (a NaN would count as 0). The script's last line is
``Accuracy: mean = 0.86170, kidney = 0.9347, tumor = 0.7887`` (fractions); perfpilot's
run record keeps the mean composite in percent, as the task's target is written. The
per-case table goes to ``summary.csv`` (``case,kidney,tumor,composite`` and a ``mean``
row), as the reference writes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from perfpilot.artifacts import atomic_write_text
from perfpilot.errors import UsageError
from perfpilot.tasks.common.accuracy_log import read_accuracy_log

SMOOTH_NR = 1e-6
SMOOTH_DR = 1e-6
FOREGROUND = (1, 2)  # kidney, tumour


class CaseSource(Protocol):
    """What scoring needs of the dataset (``perfpilot.tasks.kits19.dataset.Kits19Dataset``)."""

    cases: list[str]
    shapes: list[tuple[int, ...]]

    def label(self, i: int) -> np.ndarray: ...


def dice_scores(prediction: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(kidney, tumour) DICE of one case, the reference's formula on exact counts."""
    pred = np.asarray(prediction).reshape(-1)
    true = np.asarray(truth).reshape(-1)
    if pred.shape != true.shape:
        raise ValueError(f"prediction has {pred.size} voxels, ground truth {true.size}")
    out = []
    for cls in FOREGROUND:
        p, t = pred == cls, true == cls
        inter = float(np.count_nonzero(p & t))
        denom = float(np.count_nonzero(t)) + float(np.count_nonzero(p))
        out.append((2.0 * inter + SMOOTH_NR) / (denom + SMOOTH_DR))
    return out[0], out[1]


@dataclass(frozen=True)
class DiceResult:
    """Mean DICE over the cases; ``accuracy`` is the mean composite in percent."""

    mean: float  # composite, fraction
    kidney: float
    tumor: float
    cases: int
    per_case: tuple[tuple[str, float, float], ...] = field(default=(), repr=False)

    @property
    def accuracy(self) -> float:
        return 100.0 * self.mean

    @property
    def good(self) -> int:  # the run record's counts: cases scored
        return self.cases

    @property
    def total(self) -> int:
        return self.cases

    def line(self) -> str:
        return (
            f"Accuracy: mean = {self.mean:.5f}, kidney = {self.kidney:.4f}, "
            f"tumor = {self.tumor:.4f}"
        )

    def summary_csv(self) -> str:
        """The reference's summary.csv: one row per case, then the ``mean`` row."""
        rows = ["case,kidney,tumor,composite"]
        for case, kidney, tumor in self.per_case:
            rows.append(f"{case},{kidney!r},{tumor!r},{(kidney + tumor) / 2.0!r}")
        rows.append(f"mean,{self.kidney!r},{self.tumor!r},{self.mean!r}")
        return "\n".join(rows) + "\n"


def _mean(values: list[float]) -> float:
    return float(np.mean([0.0 if math.isnan(v) else v for v in values]))


def score_kits(log_path: Path, dataset: CaseSource, summary_path: Path | None = None) -> DiceResult:
    """Score a 3D-UNet accuracy log against the cases' label volumes. Every case must be
    answered (the reference asserts it); a record seen again for a case is ignored."""
    count = len(dataset.cases)
    answers: dict[int, bytes] = {}
    for record in read_accuracy_log(log_path):
        idx = int(record["qsl_idx"])  # type: ignore[call-overload]
        if idx < 0 or idx >= count:
            raise UsageError(
                f"{log_path}: qsl_idx {idx} is beyond the {count} cases of the dataset",
                "Score with the dataset folder (and --dataset-size) the run used.",
            )
        answers.setdefault(idx, bytes.fromhex(str(record["data"])))
    missing = [dataset.cases[i] for i in range(count) if i not in answers]
    if missing:
        raise UsageError(
            f"{log_path}: no prediction for {len(missing)} of {count} cases "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})",
            "Score the log of a complete accuracy run.",
        )
    per_case = []
    for i in range(count):
        shape = dataset.shapes[i]
        data = answers[i]
        if len(data) != math.prod(shape):
            raise UsageError(
                f"{log_path}: response for {dataset.cases[i]} has {len(data)} bytes, but its "
                f"volume {shape} needs {math.prod(shape)} (one uint8 label per voxel)",
                "The model's post-processing is not 3D-UNet's sliding window; check --model.",
            )
        prediction = np.frombuffer(data, dtype=np.uint8).reshape(shape)
        kidney, tumor = dice_scores(prediction, dataset.label(i))
        per_case.append((dataset.cases[i], kidney, tumor))
    kidney_mean = _mean([k for _, k, _ in per_case])
    tumor_mean = _mean([t for _, _, t in per_case])
    composite = _mean([(k + t) / 2.0 for _, k, t in per_case])
    result = DiceResult(composite, kidney_mean, tumor_mean, count, tuple(per_case))
    if summary_path is not None:
        atomic_write_text(summary_path, result.summary_csv())
    return result


def score_dataset(log: Path, dataset: Any) -> Any:
    """The task scorer: mean DICE, with summary.csv beside the log, as the reference's
    accuracy_kits.py writes it."""
    return score_kits(log, dataset, log.parent / "summary.csv")
