"""Numbers read leniently from JSON values and LoadGen detail logs (None when unreadable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perfpilot.errors import UsageError
from perfpilot.submission.tree import is_file


def as_int(value: Any) -> int | None:
    """``int(value)``, or None where it is not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _detail_values(folder: Path) -> dict[str, Any] | None:
    """The values of ``folder/mlperf_log_detail.txt`` (None: no such file or unreadable;
    the log parser reads each version of a file once)."""
    from perfpilot.engine.logparse import read_detail

    detail = folder / "mlperf_log_detail.txt"
    if not is_file(detail):
        return None
    try:
        return read_detail(detail).values
    except UsageError:
        return None


def detail_float(folder: Path, key: str) -> float | None:
    """A key of ``folder/mlperf_log_detail.txt`` as a float, or None."""
    value = (_detail_values(folder) or {}).get(key)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def detail_int(folder: Path, key: str) -> int | None:
    """A key of ``folder/mlperf_log_detail.txt`` as an int, or None."""
    return as_int((_detail_values(folder) or {}).get(key))


def detail_value(folder: Path, key: str) -> Any:
    """A key of ``folder/mlperf_log_detail.txt`` as LoadGen logged it, or None."""
    return (_detail_values(folder) or {}).get(key)
