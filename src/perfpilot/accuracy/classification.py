"""Top-1 accuracy from ``mlperf_log_accuracy.json``, like the MLPerf ImageNet script:
de-duplicate by ``qsl_idx``, decode the first element of each response, compare with
the label, and print ``accuracy=xx.xxx%, good=N, total=N``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfpilot.errors import UsageError


@dataclass(frozen=True)
class AccuracyResult:
    """Accuracy in percent with its counts; ``line()`` is the official text."""

    accuracy: float
    good: int
    total: int

    def line(self) -> str:
        return f"accuracy={self.accuracy:.3f}%, good={self.good}, total={self.total}"


def read_accuracy_log(path: Path) -> list[dict[str, object]]:
    """The records of an accuracy log, with a clear error when the file is unusable."""
    try:
        records = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"no accuracy log at {path}", "Run the test in accuracy mode.") from None
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{path}: not valid JSON at line {err.lineno} ({err.msg})",
            "The accuracy log is damaged or truncated; re-run the accuracy test.",
        ) from err
    if not isinstance(records, list):
        raise UsageError(f"{path}: expected a JSON list of records")
    return records


def score_top1(path: Path, labels: np.ndarray, dtype: str = "int32") -> AccuracyResult:
    """Score an accuracy log whose responses start with the predicted class."""
    seen: set[int] = set()
    good = 0
    for record in read_accuracy_log(path):
        idx = int(record["qsl_idx"])  # type: ignore[call-overload]
        if idx in seen:
            continue
        seen.add(idx)
        data = bytes.fromhex(str(record["data"]))
        predicted = int(np.frombuffer(data, dtype=dtype)[0])
        if predicted == int(labels[idx]):
            good += 1
    total = len(seen)
    accuracy = 100.0 * good / total if total else 0.0
    return AccuracyResult(accuracy=accuracy, good=good, total=total)
