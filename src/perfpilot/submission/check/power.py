"""Power rules: a result with ``performance/power/`` is a power result. Its testing run
(``run_1``) and ranging run hold the LoadGen logs and the analyzer's ``spl.txt``, the
power folder holds the PTD session files, and the session is consistent as the official
power checker (``tools/submission/power/`` of mlcommons/inference) requires: both session
descriptions present with their fields, the same UUIDs and session name, no debug
server, a supported analyzer, and the result files' checksums the ones the session
recorded. The power figure is the official one: the mean of the positive watts samples
of ``spl.txt`` between LoadGen's power_begin and power_end, in W for Offline and Server,
in mJ per query for SingleStream and MultiStream."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from perfpilot.submission.check.context import Context
from perfpilot.submission.check.files import (
    OPTIONAL_ANY,
    OPTIONAL_PERF_FILES,
    REQUIRED_PERF_FILES,
    check_folder_files,
)
from perfpilot.submission.check.values import detail_value
from perfpilot.submission.tree import ScenarioEntry, is_dir, is_file

SPL = "spl.txt"
POWER_FILES = ("client.json", "client.log", "ptd_logs.txt", "server.json", "server.log")
POWER_UNITS = {
    "SingleStream": "millijoules",
    "MultiStream": "millijoules",
    "Offline": "Watts",
    "Server": "Watts",
    "Interactive": "Watts",
}
# The files whose checksums the PTD session records (relative to performance/).
_RESULT_FILES = (
    *(f"power/{n}" for n in POWER_FILES if n not in ("client.json", "server.json")),
    *(f"{run}/{n}" for run in ("ranging", "run_1") for n in (*REQUIRED_PERF_FILES, SPL)),
)
_SESSION_FIELDS = (
    "version",
    "timezone",
    "modules",
    "sources",
    "messages",
    "uuid",
    "session_name",
    "results",
    "phases",
)
# PTD device numbers of the analyzers the power working group supports.
_SUPPORTED_DEVICES = {8, 35, 48, 49, 52, 77, 508, 549, 586}
_TIME_FORMAT = "%m-%d-%Y %H:%M:%S.%f"
# The form PTD and LoadGen write it in (07-25-2025 15:27:44.482)
_TIME = re.compile(
    r"([0-9]{2})-([0-9]{2})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{1,6})"
)


def ptd_time(text: str) -> datetime:
    """``datetime.strptime(text, _TIME_FORMAT)``, three times faster for the usual form: an
    spl.txt has a sample a second (tens of thousands in a submission). Other forms, and
    errors (ValueError), are strptime's."""
    found = _TIME.fullmatch(text)
    if found is None:
        return datetime.strptime(text, _TIME_FORMAT)
    month, day, year, hour, minute, second, fraction = found.groups()
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        int(fraction.ljust(6, "0")),
    )


@dataclass(frozen=True)
class PowerFigure:
    """The power result of one run: mean watts, the official metric and its units."""

    watts: float
    metric: float  # W (Offline, Server) or mJ per query (SingleStream, MultiStream)
    units: str
    efficiency: float  # samples per joule (throughput scenarios) or per mJ * 1000


def has_power(entry: ScenarioEntry) -> bool:
    """The official test: a ``performance/power`` folder."""
    return is_dir(entry.performance_dir.parent / "power")


def perf_files(entry: ScenarioEntry) -> tuple[str, ...]:
    """The files run_1 must hold: spl.txt too for a power result."""
    return (*REQUIRED_PERF_FILES, SPL) if has_power(entry) else REQUIRED_PERF_FILES


def _session(ctx: Context, path: Path) -> dict[str, Any] | None:
    if not is_file(path):
        return None  # reported by the file list
    try:
        data = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError as err:
        ctx.add("power-session", path, f"not valid JSON ({err.msg}, line {err.lineno})")
        return None
    if not isinstance(data, dict):
        ctx.add("power-session", path, "not a JSON object")
        return None
    absent = [k for k in _SESSION_FIELDS if k not in data]
    if absent:
        ctx.add("power-session", path, f"fields missing: {', '.join(absent)}")
        return None
    return data


def _same_ids(ctx: Context, power: Path, client: dict[str, Any], server: dict[str, Any]) -> None:
    for side in ("client", "server"):
        try:
            same = uuid.UUID(str(client["uuid"][side])) == uuid.UUID(str(server["uuid"][side]))
        except (KeyError, TypeError, ValueError):
            same = False
        if not same:
            ctx.add(
                "power-session", power, f"the {side} UUIDs of client.json and server.json differ"
            )
    if client["session_name"] != server["session_name"]:
        ctx.add(
            "power-session",
            power,
            f"session names differ ({client['session_name']!r}, {server['session_name']!r})",
        )
    if server.get("debug", False) is not False:
        ctx.add("power-session", power / "server.json", "the PTD server ran in debug mode")
    config = server.get("ptd_config") or []
    # one analyzer (a dict) up to v5.0, a list of them since
    for analyzer in [config] if isinstance(config, dict) else config:
        device = analyzer.get("device_type") if isinstance(analyzer, dict) else None
        if device not in _SUPPORTED_DEVICES:
            ctx.add(
                "power-session",
                power / "server.json",
                f"analyzer device {device} is not one the power rules support",
            )


def _checksums(ctx: Context, perf: Path, client: dict[str, Any], server: dict[str, Any]) -> None:
    """The result files' sha1 equal what server.json and client.json recorded."""
    recorded: dict[str, str] = {}
    for data in (client, server):
        results = data.get("results")
        if isinstance(results, dict):
            recorded.update({k: str(v) for k, v in results.items() if k in _RESULT_FILES})
    for name in _RESULT_FILES:
        path = perf / name
        if name not in recorded:
            ctx.add("power-checksum", perf / "power", f"the session recorded no checksum of {name}")
        elif is_file(path):
            import hashlib  # here: OpenSSL's start-up is for power results only

            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest != recorded[name]:
                ctx.add("power-checksum", path, "its checksum is not the one the session recorded")


def power_figure(run: Path, scenario: str) -> PowerFigure | str:
    """The official power figure of a testing run, or what prevents it."""
    begin_text, end_text = detail_value(run, "power_begin"), detail_value(run, "power_end")
    try:
        begin = ptd_time(str(begin_text))
        end = ptd_time(str(end_text))
    except ValueError:
        return "no power_begin/power_end in mlperf_log_detail.txt"
    samples: list[float] = []
    spl = run / SPL
    if not is_file(spl):
        return f"{SPL} is missing"
    for line in spl.read_text(errors="replace").splitlines():
        if not line.startswith("Time"):
            continue
        parts = line.split(",")
        try:
            stamp = ptd_time(parts[1])
            watts = float(parts[3])
        except (IndexError, ValueError):
            continue
        if begin < stamp < end and watts > 0:
            samples.append(watts)
    if not samples:
        return f"no power samples of {SPL} fall between power_begin and power_end"
    avg = sum(samples) / len(samples)
    if scenario in ("Offline", "Server", "Interactive"):
        value = detail_value(run, "result_samples_per_second")
        rate = detail_value(run, "result_completed_samples_per_sec") if value is None else value
        efficiency = float(rate) / avg if isinstance(rate, int | float) else 0.0
        return PowerFigure(avg, avg, POWER_UNITS[scenario], efficiency)
    queries = detail_value(run, "result_query_count")
    if not isinstance(queries, int) or queries <= 0:
        return "no result_query_count in mlperf_log_detail.txt"
    duration = (end - begin).total_seconds()
    log_scenario = detail_value(run, "effective_scenario")
    per_query = 8 if scenario == "MultiStream" else 1
    metric = avg * duration * 1000 / queries
    if scenario == "MultiStream" and log_scenario == "SingleStream":
        metric = avg * duration * per_query * 1000 / queries  # inferred: 8 samples a query
    return PowerFigure(avg, metric, POWER_UNITS[scenario], per_query * 1000 / metric)


def check_power(ctx: Context, entry: ScenarioEntry) -> PowerFigure | None:
    """Check the power logs of ``entry`` (a power result) and return its figure."""
    perf = entry.performance_dir.parent
    power = perf / "power"
    ranging = perf / "ranging"
    n_before = len(ctx.findings)
    check_folder_files(ctx, ranging, (*REQUIRED_PERF_FILES, SPL), OPTIONAL_PERF_FILES)
    check_folder_files(ctx, power, POWER_FILES, OPTIONAL_ANY)
    client = _session(ctx, power / "client.json")
    server = _session(ctx, power / "server.json")
    if client is not None and server is not None:
        _same_ids(ctx, power, client, server)
        _checksums(ctx, perf, client, server)
    figure = power_figure(entry.performance_dir, entry.scenario)
    if isinstance(figure, str):
        ctx.add("power-samples", entry.performance_dir / SPL, figure)
        return None
    return figure if len(ctx.findings) == n_before else None


def power_only(entry: ScenarioEntry) -> bool:
    """``system_power_only`` in the system JSON: the CSV shows only the power row."""
    value = (entry.system_json or {}).get("system_power_only")
    if isinstance(value, str):
        return value.lower() == "true"  # as the official checker reads it
    return bool(value)
