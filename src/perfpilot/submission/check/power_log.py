"""PTD log rules (``power/ptd_logs.txt``): PTDaemon's own account of the session.

Uncertainty checking must be on before the ranging run starts. An ERROR line is allowed
only inside the ranging run (where the analyzer is still searching its ranges), and
there only the usual ranging errors pass silently; a WARNING line inside the testing run
is a warning, except an uncertainty above 1% on a testing sample, which is an error. A
lost USB link is only a warning wherever it happens.

PTDaemon and LoadGen both log UTC; the testing run is LoadGen's power_begin to power_end
narrowed by PHASE_TOLERANCE_S at each end. Two deliberate differences from the official
power checker (docs/submission.md): it narrows the window by 800 s instead of 800 ms
(its constant is in milliseconds, added to seconds), which hides every testing-run
warning of a run under 27 minutes, and it stops reading the log at the first warning,
which hides the errors after it; perfpilot reads the whole log.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from perfpilot.submission.check.context import Context
from perfpilot.submission.check.findings import WARNING
from perfpilot.submission.check.power_phases import loadgen_window, parse_time
from perfpilot.submission.check.power_rounds import PHASE_TOLERANCE_S
from perfpilot.submission.tree import is_file

_STAMP = re.compile(r"^(\d\d-\d\d-\d\d\d\d \d\d:\d\d:\d\d\.\d\d\d)(.*)$")
_UNCERTAINTY_ON = re.compile(r"Uncertainty checking for Yokogawa\S+ is activated")
_RANGING_ERRORS = (
    "Can't evaluate uncertainty of this sample!",
    "Bad watts reading nan from ",
    "Bad amps reading nan from ",
    "Bad pf reading nan from ",
    "Bad volts reading nan from ",
    "Current appears to be too high for set range",
)
_ANYWHERE_ERRORS = ("USB.",)  # errors that are warnings in any phase
_TESTING_ERRORS = (
    re.compile(r"Uncertainty \d+.\d+%, which is above 1.00% limit for the last sample!"),
)


def _stamped(line: str) -> tuple[datetime, str] | None:
    match = _STAMP.match(line)
    when = parse_time(match.group(1)) if match else None
    return None if when is None or match is None else (when, match.group(2).strip())


def _ranging_window(lines: list[str], session: str) -> tuple[datetime, datetime] | None:
    """From PTD's "Go with mark '<session>_ranging'" to the next "Completed test"."""
    start_msg = f": Go with mark '{session}_ranging'"
    start = None
    for line in lines:
        # the cheap test first: only the two lines wanted have their time read
        wanted = ": Completed test" if start is not None else start_msg
        if wanted not in line:
            continue
        stamped = _stamped(line)
        if stamped is None or stamped[1] != wanted:
            continue
        if start is None:
            start = stamped[0]
        else:
            return start, stamped[0]
    return None


def check_ptd_log(ctx: Context, perf: Path, session: str) -> None:
    """The PTD log rules for the power result whose ``performance/`` folder is ``perf``."""
    path = perf / "power" / "ptd_logs.txt"
    if not is_file(path):
        return  # reported by the file list
    lines = path.read_text(errors="replace").splitlines()
    ranging = _ranging_window(lines, session)
    if ranging is None:
        ctx.add(
            "power-log",
            path,
            f"no ranging run of session {session!r} (Go with mark ... Completed test)",
        )
        return
    activated = next((line for line in lines if _UNCERTAINTY_ON.search(line)), None)
    if activated is None:
        ctx.add("power-log", path, "PTDaemon's uncertainty checking was never activated")
        return
    stamped = _stamped(activated)
    if stamped is None:
        ctx.add("power-log", path, "the uncertainty checking line has no timestamp")
        return
    if not stamped[0] < ranging[0]:
        ctx.add("power-log", path, "uncertainty checking was activated after the ranging run began")
        return
    load = loadgen_window(perf / "run_1")
    errors: list[str] = []
    warnings: list[str] = []
    for number, line in enumerate(lines, 1):
        for kind in ("WARNING:", "ERROR:"):
            at = line.find(kind)
            text = line[at + len(kind) :].strip() if at >= 0 else ""
            if not text:
                continue
            where = f"line {number}: {line.strip()!r}"
            stamp = _stamped(line)
            if stamp is None:
                errors.append(f"{where} has no timestamp")
            elif kind == "ERROR:":
                _judge_error(text, stamp[0], ranging, where, errors, warnings)
            elif not isinstance(load, str):
                _judge_warning(text, stamp[0], load, where, errors, warnings)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        ctx.add("power-log", path, f"{errors[0]}{more}")
    elif warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        ctx.add("power-log", path, f"{warnings[0]}{more}", WARNING)


def _judge_error(
    text: str,
    when: datetime,
    ranging: tuple[datetime, datetime],
    where: str,
    errors: list[str],
    warnings: list[str],
) -> None:
    if text in _ANYWHERE_ERRORS:
        warnings.append(f"{where}: accepted as a warning")
    elif not ranging[0] < when < ranging[1]:
        errors.append(f"{where}: an error outside the ranging run")
    elif not text.startswith(_RANGING_ERRORS):
        warnings.append(f"{where}: an unusual error during the ranging run")


def _judge_warning(
    text: str,
    when: datetime,
    load: tuple[datetime, datetime],
    where: str,
    errors: list[str],
    warnings: list[str],
) -> None:
    seconds = when.timestamp()
    if (
        not load[0].timestamp() + PHASE_TOLERANCE_S
        < seconds
        < load[1].timestamp() - PHASE_TOLERANCE_S
    ):
        return
    if any(p.search(text) for p in _TESTING_ERRORS):
        errors.append(f"{where}: uncertainty over 1% during the testing run")
    else:
        warnings.append(f"{where}: during the testing run")
