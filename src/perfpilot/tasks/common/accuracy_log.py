"""Reading ``mlperf_log_accuracy.json``, LoadGen's record of every response in an
accuracy run, for the tasks' scorers."""

from __future__ import annotations

from pathlib import Path

from perfpilot.errors import UsageError
from perfpilot.userfiles import load_json


def read_accuracy_log(path: Path) -> list[dict[str, object]]:
    """The records of an accuracy log, with a clear error when the file is unusable."""
    if not path.exists():
        raise UsageError(f"no accuracy log at {path}", "Run the test in accuracy mode.")
    records: list[dict[str, object]] = load_json(
        path,
        "accuracy log",
        list,
        "The accuracy log is damaged or truncated; re-run the accuracy test.",
    )
    return records
