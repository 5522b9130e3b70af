"""Read LoadGen's logs (``mlperf_log_detail.txt``, ``mlperf_log_summary.txt``) into typed
results. Works on logs from any LoadGen of the last rounds (official submissions too)."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.errors import UsageError
from perfpilot.loadgen_result import LoadgenResult

MLLOG_PREFIX = ":::MLLOG "
# The records not decoded: LoadGen's list of the loaded sample indices is most of a detail
# log's bytes (4.8 of 6.9 MB in a published tree) and nothing reads it.
_SKIPPED = tuple(f'{MLLOG_PREFIX}{{"key": "{key}"' for key in ("loaded_qsl_set",))
PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")

# Scenario -> (detail key of the official metric, unit, divisor of the value). The
# latencies are divided by 1e6 (ns -> ms) as the official checker does: multiplying by
# 1e-6 gives binary noise (7.627155999999999 for 7.627156).
METRIC_KEYS: dict[str, tuple[str, str, float]] = {
    "Offline": ("result_samples_per_second", "samples/s", 1.0),
    "Server": ("result_completed_samples_per_sec", "samples/s", 1.0),
    "SingleStream": ("early_stopping_latency_ss", "ms", 1e6),
    "MultiStream": ("early_stopping_latency_ms", "ms", 1e6),
}
# With token latencies on (LLMs), the official throughput metrics count tokens.
TOKEN_METRIC_KEYS: dict[str, tuple[str, str, float]] = {
    "Offline": ("result_tokens_per_second", "tokens/s", 1.0),
    "Server": ("result_completed_tokens_per_second", "tokens/s", 1.0),
}


@dataclass(frozen=True)
class DetailLog:
    """The ``:::MLLOG`` records of a detail log: last value per key, errors, warnings."""

    values: dict[str, Any]
    errors: list[str]
    warnings: list[str]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def read_detail(path: Path) -> DetailLog:
    """Parse a detail log. A malformed line is skipped only if it is the (cut) last one.

    The checker asks for keys of the same log from several rules: a log already read,
    unchanged since (same size, modification time and inode), is not parsed again. A log
    modified in the last seconds is always parsed (file times are coarser than a quick
    rewrite of the same size).
    """
    try:
        stat = path.stat()
    except OSError:
        return _parse_detail(path)  # raises the reader's own error
    if time.time() - stat.st_mtime < _SETTLED_S:
        return _parse_detail(path)
    key = (str(path.absolute()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    cached = _DETAIL_CACHE.get(key)
    if cached is None:
        cached = _parse_detail(path)
        if len(_DETAIL_CACHE) >= _DETAIL_CACHE_SIZE:
            _DETAIL_CACHE.pop(next(iter(_DETAIL_CACHE)))
        _DETAIL_CACHE[key] = cached
    return cached


_SETTLED_S = 2.0
_DETAIL_CACHE: dict[tuple[str, int, int, int], DetailLog] = {}
_DETAIL_CACHE_SIZE = 512


_PREFIX_BYTES = MLLOG_PREFIX.encode()
_SKIPPED_BYTES = tuple(prefix.encode() for prefix in _SKIPPED)


def _parse_detail(path: Path) -> DetailLog:
    raw = path.read_bytes()
    # One JSON array of all the records decodes in one call, about twice as fast as a
    # call per line. LoadGen writes one object per line: anything else (a cut last line,
    # damage) is read again line by line, which says where and what is wrong.
    lines = [
        line[len(_PREFIX_BYTES) :]
        for line in raw.splitlines()
        if line.startswith(_PREFIX_BYTES) and not line.startswith(_SKIPPED_BYTES)
    ]
    records: Any
    try:
        records = json.loads((b"[" + b",".join(lines) + b"]").decode(errors="replace"))
    except ValueError:
        records = None
    if (
        not isinstance(records, list)
        or len(records) != len(lines)
        or not all(isinstance(record, dict) for record in records)
    ):
        records = _records_by_line(path, raw.decode(errors="replace").splitlines())
    values: dict[str, Any] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for record in records:
        key = record.get("key")
        value = record.get("value")
        meta = record.get("metadata") or {}
        if meta.get("is_error"):
            errors.append(f"{key}: {value}")
        elif meta.get("is_warning"):
            warnings.append(f"{key}: {value}")
        values[key] = value
    return DetailLog(values=values, errors=errors, warnings=warnings)


def _records_by_line(path: Path, lines: list[str]) -> list[dict[str, Any]]:
    """The records of a log whose lines do not read as one array: a malformed line is
    an error, unless it is the (cut) last one."""
    records = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(MLLOG_PREFIX) or line.startswith(_SKIPPED):
            continue
        try:
            record = json.loads(line[len(MLLOG_PREFIX) :])
        except json.JSONDecodeError as err:
            if number == len(lines):  # a crashed run can leave a partial last line
                break
            raise UsageError(
                f"{path}:{number}: not a valid MLLOG record ({err.msg})",
                "The log is damaged; re-run the test.",
            ) from err
        records.append(record)
    return records


def read_summary(path: Path) -> dict[str, str]:
    """``key : value`` lines of a summary log (first occurrence of each key)."""
    out: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_result(run_dir: Path) -> LoadgenResult:
    """The typed result of the LoadGen test whose logs are in ``run_dir``."""
    detail_path = run_dir / "mlperf_log_detail.txt"
    if not detail_path.exists():
        raise UsageError(f"no LoadGen detail log in {run_dir}", "Is this a run directory?")
    detail = read_detail(detail_path)
    summary_path = run_dir / "mlperf_log_summary.txt"

    @functools.cache
    def summary_log() -> dict[str, str]:  # read only when the detail log lacks a value
        return read_summary(summary_path) if summary_path.exists() else {}

    def summary(key: str) -> str | None:
        return summary_log().get(key)

    scenario = str(detail.get("effective_scenario") or summary("Scenario") or "?")
    test_mode = str(detail.get("effective_test_mode") or summary("Mode") or "?")
    performance = test_mode != "AccuracyOnly"

    valid: bool | None = None
    reasons: list[str] = []
    if performance:
        validity = detail.get("result_validity") or summary("Result is")
        valid = validity == "VALID"
        checks = {
            "result_min_duration_met": "min duration not met",
            "result_min_queries_met": "min queries not met",
            "early_stopping_met": "early stopping not met",
            "result_perf_constraints_met": "latency constraint not met",
        }
        for key, reason in checks.items():
            if detail.get(key) is False:
                reasons.append(reason)
        invalid_reason = detail.get("result_invalid_reason")
        if invalid_reason:
            reasons.append(str(invalid_reason))
        if detail.errors:
            reasons.extend(f"LoadGen error: {e}" for e in detail.errors)
        if validity is None:
            reasons.append("no result in the log (the test did not finish)")

    tokens = detail.get("requested_use_token_latencies") is True
    metric_name = metric = unit = None
    keys = {**METRIC_KEYS, **TOKEN_METRIC_KEYS} if tokens else METRIC_KEYS
    if performance and scenario in keys:
        metric_name, unit, divisor = keys[scenario]
        raw = detail.get(metric_name)
        metric = None if raw is None else float(raw) / divisor
    ttft = _token_latencies(detail, "result_first_token_{}_percentile_latency_ns") if tokens else {}
    tpot = (
        _token_latencies(detail, "result_time_per_output_token_{}_percentile_ns") if tokens else {}
    )

    latency: dict[str, int] = {}
    for name in ("min", "mean", "max"):
        value = _int(detail.get(f"result_{name}_latency_ns"))
        if value is not None:
            latency[name] = value
    for pct in PERCENTILES:
        value = _int(detail.get(f"result_{pct}_percentile_latency_ns"))
        if value is not None:
            latency["p" + pct.rstrip("0").rstrip(".")] = value

    query_count = _int(detail.get("result_query_count"))
    spq = _int(detail.get("effective_samples_per_query")) or 1
    sample_count = None if query_count is None else query_count * spq
    duration = None
    # token runs' metric is tokens/s: the duration comes from samples/s
    rate = _samples_per_second(detail, scenario) if tokens else metric
    if scenario == "Offline" and rate and sample_count:
        duration = sample_count / rate
    elif performance and detail.get("result_scheduled_samples_per_sec") and sample_count:
        duration = sample_count / float(detail.get("result_scheduled_samples_per_sec"))

    seeds = {
        k: int(detail.get(f"effective_{k}"))
        for k in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
        if detail.get(f"effective_{k}") is not None
    }
    effective = {
        k.removeprefix("effective_"): v
        for k, v in detail.values.items()
        if k.startswith("effective_")
    }
    return LoadgenResult(
        scenario=scenario,
        test_mode=test_mode,
        valid=valid,
        invalid_reasons=reasons,
        metric_name=metric_name,
        metric=metric,
        metric_unit=unit,
        latency_ns=latency,
        query_count=query_count,
        sample_count=sample_count,
        duration_s=duration,
        loadgen_version=detail.get("loadgen_version"),
        seeds=seeds,
        effective=effective,
        errors=detail.errors,
        warnings=detail.warnings,
        samples_per_second=_samples_per_second(detail, scenario) if tokens else None,
        ttft_ns=ttft,
        tpot_ns=tpot,
    )


def _token_latencies(detail: DetailLog, pattern: str) -> dict[str, int]:
    """Token latency percentiles ("p50", "p90", "p99", ...) where LoadGen logged them
    (Server and Interactive; Offline logs none)."""
    found = {}
    for pct in PERCENTILES:
        value = _int(detail.get(pattern.format(pct)))
        if value:
            found["p" + pct.rstrip("0").rstrip(".")] = value
    return found


def _samples_per_second(detail: DetailLog, scenario: str) -> float | None:
    """A token run's samples/s, beside its tokens/s metric."""
    name = METRIC_KEYS.get(scenario, ("", "", 1.0))[0] if scenario in ("Offline", "Server") else ""
    raw = detail.get(name) if name else None
    return None if raw is None else float(raw)
