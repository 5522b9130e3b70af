"""Power rules: a result with ``performance/power/`` is a power result. Its testing run
(``run_1``) and ranging run hold the LoadGen logs and the analyzer's ``spl.txt``, the
power folder holds the PTD session files, and the session is consistent as the official
power checker (``tools/submission/power/`` of mlcommons/inference) requires: both session
descriptions present with their fields, the same UUIDs and session name, no debug
server, and the result files' checksums the ones the session recorded. The PTD exchange
and analyzers (power_ptd), the phase timings (power_phases) and PTDaemon's log
(power_log) are checked by the round's rules (power_rounds). The power figure is the
official one: the mean of the positive watts samples of ``spl.txt`` between LoadGen's
power_begin and power_end, in W for Offline and Server, in mJ per query for SingleStream
and MultiStream."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.submission.check.context import Context
from perfpilot.submission.check.files import (
    OPTIONAL_ANY,
    OPTIONAL_PERF_FILES,
    REQUIRED_PERF_FILES,
    check_folder_files,
)
from perfpilot.submission.check.findings import ERROR, Finding
from perfpilot.submission.check.power_log import check_ptd_log
from perfpilot.submission.check.power_phases import check_phases, loadgen_window, spl_watts
from perfpilot.submission.check.power_ptd import (
    check_messages,
    check_ptd_config,
    check_ptd_messages,
    check_sources,
)
from perfpilot.submission.check.power_rounds import power_round
from perfpilot.submission.check.values import detail_value
from perfpilot.submission.rounds import get_round
from perfpilot.submission.tree import ScenarioEntry, SubmissionTree, is_dir, is_file

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


def _checksums(ctx: Context, perf: Path, client: dict[str, Any], server: dict[str, Any]) -> None:
    """The result files' sha1 equal what server.json and client.json recorded."""
    recorded: dict[str, str] = {}
    for data in (client, server):
        results = data.get("results")
        if isinstance(results, dict):
            for name, digest in results.items():
                if name in _RESULT_FILES and recorded.setdefault(name, str(digest)) != str(digest):
                    ctx.add(
                        "power-checksum",
                        perf / "power",
                        f"client.json and server.json recorded different checksums of {name}",
                    )
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
    window = loadgen_window(run)
    if isinstance(window, str):
        return window
    begin, end = window
    spl = run / SPL
    if not is_file(spl):
        return f"{SPL} is missing"
    samples = spl_watts(spl, begin, end)
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


def check_session(ctx: Context, perf: Path) -> None:
    """The power working group's rules for the power session of ``perf`` (a result's
    ``performance/`` folder holding ``power/``, ``ranging/`` and ``run_1/``)."""
    power = perf / "power"
    check_folder_files(ctx, perf / "ranging", (*REQUIRED_PERF_FILES, SPL), OPTIONAL_PERF_FILES)
    check_folder_files(ctx, power, POWER_FILES, OPTIONAL_ANY)
    client = _session(ctx, power / "client.json")
    server = _session(ctx, power / "server.json")
    if client is None or server is None:
        return
    prules = power_round(ctx.rules.name)
    _same_ids(ctx, power, client, server)
    _checksums(ctx, perf, client, server)
    check_sources(ctx, power, client, server, prules)
    check_messages(ctx, power, client, server)
    check_ptd_messages(ctx, power / "server.json", server, prules)
    check_ptd_config(ctx, power / "server.json", server, prules)
    check_phases(ctx, perf, client, server)
    check_ptd_log(ctx, perf, str(server["session_name"]))


def session_findings(perf: Path, round_name: str) -> list[Finding]:
    """The findings of :func:`check_session` on a lone ``performance/`` folder (paths
    relative to it), for checking one power session outside a submission tree."""
    ctx = Context(SubmissionTree(perf, [], []), get_round(round_name), relax=False)
    check_session(ctx, perf)
    return ctx.findings


def check_power(ctx: Context, entry: ScenarioEntry) -> PowerFigure | None:
    """Check the power logs of ``entry`` (a power result) and return its figure."""
    n_before = len(ctx.findings)
    check_session(ctx, entry.performance_dir.parent)
    figure = power_figure(entry.performance_dir, entry.scenario)
    if isinstance(figure, str):
        ctx.add("power-samples", entry.performance_dir / SPL, figure)
        return None
    errors = [f for f in ctx.findings[n_before:] if f.severity == ERROR]
    return None if errors else figure


def power_only(entry: ScenarioEntry) -> bool:
    """``system_power_only`` in the system JSON: the CSV shows only the power row."""
    value = (entry.system_json or {}).get("system_power_only")
    if isinstance(value, str):
        return value.lower() == "true"  # as the official checker reads it
    return bool(value)
