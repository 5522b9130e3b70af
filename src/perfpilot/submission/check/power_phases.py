"""Phase rules: the ranging and testing runs, as the PTD session timed them and as LoadGen
logged them. Each run has four phase marks in client.json and server.json (epoch seconds);
the two clocks agree within PHASE_TOLERANCE_S at each mark, LoadGen's power_begin and
power_end (``mlperf_log_detail.txt``) fall between the second and the third mark of their
run, the testing run is not much shorter than the ranging run, and its mean power is not
more than POWER_DROP_PCT below the ranging run's (a lower draw would mean the analyzer's
ranges, set from the ranging run, did not fit the testing run)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from perfpilot.submission.check.context import Context
from perfpilot.submission.check.findings import WARNING
from perfpilot.submission.check.power_rounds import (
    DURATION_SLACK,
    PHASE_TOLERANCE_S,
    POWER_DROP_PCT,
)
from perfpilot.submission.check.values import detail_value
from perfpilot.submission.tree import is_file

TIME_FORMAT = "%m-%d-%Y %H:%M:%S.%f"  # as the official checker reads them
_TIME = re.compile(r"(\d\d?)-(\d\d?)-(\d{4}) (\d\d?):(\d\d?):(\d\d?)\.(\d{1,6})")
# run folder -> the name of its phases in the session files
RUNS = (("ranging", "ranging"), ("run_1", "testing"))
# The official checker also accepts LoadGen times one hour off the session's: its stand-in
# for daylight-saving changes, kept so that the verdicts agree.
_DST_S = 3600.0


def parse_time(text: str) -> datetime | None:
    """A LoadGen / PTD timestamp (``MM-DD-YYYY HH:MM:SS.fff``) read as UTC, or None.
    Read field by field (strptime is 20x slower, and a PTD log has 100,000 of them); what
    the fast form misses goes to strptime."""
    match = _TIME.fullmatch(text)
    try:
        if match is None:  # strptime's other forms (the official checker's reading)
            return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)
        month, day, year, hour, minute, second, fraction = match.groups()
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int(fraction.ljust(6, "0")),
            tzinfo=timezone.utc,
        )
    except ValueError:
        return None


def loadgen_window(run: Path) -> tuple[datetime, datetime] | str:
    """LoadGen's power_begin and power_end of ``run``, or what is missing."""
    begin = parse_time(str(detail_value(run, "power_begin")))
    end = parse_time(str(detail_value(run, "power_end")))
    if begin is None or end is None:
        return "no power_begin/power_end in mlperf_log_detail.txt"
    return begin, end


def spl_watts(spl: Path, begin: datetime, end: datetime) -> list[float]:
    """The positive watts samples of ``spl`` between begin and end. The phase rules and
    the power figure both want the testing run's: read once (keyed by size and mtime)."""
    st = spl.stat()
    return list(_spl_watts(str(spl), st.st_size, st.st_mtime_ns, begin, end))


@lru_cache(maxsize=8)
def _spl_watts(
    path: str, size: int, mtime_ns: int, begin: datetime, end: datetime
) -> tuple[float, ...]:
    watts: list[float] = []
    for line in Path(path).read_text(errors="replace").splitlines():
        if not line.startswith("Time"):
            continue
        parts = line.split(",")
        stamp = parse_time(parts[1]) if len(parts) > 1 else None
        if stamp is None or not begin < stamp < end:
            continue
        try:
            value = float(parts[3])
        except (IndexError, ValueError):
            continue
        if value > 0:
            watts.append(value)
    return tuple(watts)


def _marks(data: dict[str, Any], phase: str) -> list[float] | None:
    try:
        return [float(mark[0]) for mark in data["phases"][phase]]
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else -1.0  # -1: no sample, as officially


def check_phases(ctx: Context, perf: Path, client: dict[str, Any], server: dict[str, Any]) -> None:
    """The phase rules for the power result whose ``performance/`` folder is ``perf``."""
    power = perf / "power"
    windows: dict[str, tuple[datetime, datetime]] = {}
    for folder, phase in RUNS:
        marks_c, marks_s = _marks(client, phase), _marks(server, phase)
        if marks_c is None or marks_s is None:
            ctx.add(
                "power-phases",
                power,
                f"the {phase} phases of client.json/server.json are unreadable",
            )
            return
        if len(marks_c) < 3:
            ctx.add(
                "power-phases",
                power,
                f"client.json has no complete {phase} run ({len(marks_c)} of 4 phase marks)",
            )
            return
        if len(marks_c) != len(marks_s):
            ctx.add("power-phases", power, f"client.json and server.json differ in {phase} phases")
            return
        for i, (c, s) in enumerate(zip(marks_c, marks_s, strict=True)):
            if abs(c - s) > PHASE_TOLERANCE_S:
                ctx.add(
                    "power-phases",
                    power,
                    f"client and server clocks differ by {abs(c - s) * 1000:.0f} ms at {phase} "
                    f"phase {i + 1} (at most {PHASE_TOLERANCE_S * 1000:.0f} ms)",
                )
                return
        window = loadgen_window(perf / folder)
        if isinstance(window, str):
            ctx.add("power-phases", perf / folder / "mlperf_log_detail.txt", window)
            return
        for name, at in zip(("power_begin", "power_end"), window, strict=True):
            t = at.timestamp()
            if not any(marks_c[1] < x < marks_c[2] for x in (t, t - _DST_S)):
                ctx.add(
                    "power-phases",
                    perf / folder / "mlperf_log_detail.txt",
                    f"LoadGen's {name} ({at:%H:%M:%S} UTC) is outside the {phase} phase of the "
                    "PTD session",
                )
                return
        windows[folder] = window
    ranging = (windows["ranging"][1] - windows["ranging"][0]).total_seconds()
    testing = (windows["run_1"][1] - windows["run_1"][0]).total_seconds()
    if ranging and (ranging - testing) / ranging > DURATION_SLACK:
        ctx.add(
            "power-phases",
            perf / "run_1",
            f"the testing run ({testing:.1f} s) is over {DURATION_SLACK:.0%} shorter than the "
            f"ranging run ({ranging:.1f} s)",
            WARNING,
        )
    _power_drop(ctx, perf, windows)


def _power_drop(ctx: Context, perf: Path, windows: dict[str, tuple[datetime, datetime]]) -> None:
    means = {}
    for folder, (begin, end) in windows.items():
        spl = perf / folder / "spl.txt"
        if not is_file(spl):
            return  # reported by the file list
        watts = spl_watts(spl, begin, end)
        means[folder] = round(_mean(watts), 5)
    if not means["ranging"]:
        return
    delta = round((means["run_1"] / means["ranging"] - 1) * 100, 2)
    if delta <= -POWER_DROP_PCT:
        ctx.add(
            "power-phases",
            perf / "run_1" / "spl.txt",
            f"mean power {means['run_1']} W is {-delta}% below the ranging run's "
            f"{means['ranging']} W (at most {POWER_DROP_PCT:g}% below)",
        )
