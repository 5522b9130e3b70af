"""Reading ``mlperf_log_accuracy.json``, LoadGen's record of every response in an
accuracy run, for the tasks' scorers."""

from __future__ import annotations

import json
from pathlib import Path

from perfpilot.errors import UsageError


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
