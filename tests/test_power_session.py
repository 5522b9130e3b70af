"""The power working group's rules (check/power_ptd, power_phases, power_log) on a real
published power session and on single-defect copies of it.

SOURCE is the Offline resnet50 session of UntetherAI's v4.1 submission (committed for
the conformance suite). Each DEFECT changes one thing in a copy; where the change touches
a file whose checksum the session recorded, the copy records the new checksum in
client.json/server.json as the power tools would (reseal), so that the defect is the only
one. ``official_ok`` and ``official`` are what the official power checker of v4.1
(tools/submission/power/power_checker.py at mlcommons/inference@v4.1) said of that very
copy: `python bench/power_conformance.py` re-runs it on every DEFECT and fails if the
verdict recorded here is no longer the official one. Two defects are refused by perfpilot
and passed by the official checker on purpose (docs/submission.md, "Power").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from perfpilot.submission.check import check_tree
from perfpilot.submission.check.findings import ERROR, WARNING
from perfpilot.submission.check.power import session_findings
from perfpilot.submission.check.power_rounds import POWER_ROUNDS

TREE = Path(__file__).parent / "data" / "conformance" / "v4.1" / "closed_UntetherAI" / "tree"
RESULT = "closed/UntetherAI/results/h13_u3_slim/resnet50/offline"


@dataclass(frozen=True)
class Source:
    round: str
    perf: Path


SOURCE = Source("v4.1", TREE / RESULT / "performance")
GO_TESTING = "07-23-2024 13:43:39.011: Go with mark '2024-07-23_09-27-46_testing'"
GO_RANGING = "07-23-2024 13:28:09.884: Go with mark '2024-07-23_09-27-46_ranging'"


def _json(perf: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = perf / "power" / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=4))


def _replace(perf: Path, name: str, old: str, new: str) -> None:
    path = perf / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


def _after(marker: str, line: str) -> Callable[[Path], None]:
    """Insert a PTD log line after the line ``marker``."""
    return lambda perf: _replace(perf, "power/ptd_logs.txt", marker + "\n", f"{marker}\n{line}\n")


def _ptd_message(cmd: str, field: str, value: str, nth: int = 1) -> Callable[[Path], None]:
    """Set ``field`` of the ``nth`` PTD message whose command starts with ``cmd``."""

    def change(data: dict[str, Any]) -> None:
        [m for m in data["ptd_messages"] if m["cmd"].startswith(cmd)][nth - 1][field] = value

    return lambda perf: _json(perf, "server.json", change)


def _shift_phase(perf: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["phases"]["testing"][1][0] += 2.0

    _json(perf, "server.json", change)


def _cut_testing(perf: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["phases"]["testing"] = data["phases"]["testing"][:2]

    _json(perf, "client.json", change)
    _json(perf, "server.json", change)


def _lower_testing_power(perf: Path) -> None:
    spl = perf / "run_1" / "spl.txt"
    lines = []
    for line in spl.read_text().splitlines():
        parts = line.split(",")
        if line.startswith("Time"):
            parts[3] = f"{float(parts[3]) * 0.9:.6f}"
        lines.append(",".join(parts))
    spl.write_text("\n".join(lines) + "\n")


def _set(name: str, keys: tuple[str, ...], value: Any) -> Callable[[Path], None]:
    def change(data: dict[str, Any]) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return lambda perf: _json(perf, name, change)


@dataclass(frozen=True)
class Defect:
    name: str
    mutate: Callable[[Path], None]
    rule: str  # perfpilot's rule (an error, or a warning where ``error`` is False)
    file: str  # the path the finding names, relative to performance/
    says: str  # part of perfpilot's message
    official_ok: bool  # the official power checker's verdict on the copy
    official: str  # and its message
    error: bool = True
    reseal: bool = True


TESTING_AT = "07-23-2024 13:50:00.000"
DEFECTS = [
    Defect(
        "power_begin_shifted",
        lambda p: _replace(
            p, "run_1/mlperf_log_detail.txt", "07-23-2024 13:47:29.313", "07-23-2024 13:40:29.313"
        ),
        "power-phases",
        "run_1/mlperf_log_detail.txt",
        "power_begin (13:40:29 UTC) is outside the testing phase",
        False,
        "Loadgen test begin time is not within testing mode time interval.",
    ),
    Defect(
        "clocks_apart",
        _shift_phase,
        "power-phases",
        "power",
        "clocks differ by 1996 ms at testing phase 2",
        False,
        "The time difference for 2 phase of run_1 mode is more than 800ms.",
    ),
    Defect(
        "testing_phase_missing",
        _cut_testing,
        "power-phases",
        "power",
        "no complete testing run (2 of 4 phase marks)",
        False,
        "Check time difference: IndexError (unhandled exception)",
    ),
    Defect(
        "testing_power_drop",
        _lower_testing_power,
        "power-phases",
        "run_1/spl.txt",
        "is 10.0% below the ranging run's",
        False,
        "Average power during the testing mode run is lower than that during the ranging "
        "run by more than 5%. Observed delta is -10.0%",
    ),
    Defect(
        "error_in_testing",
        _after(GO_TESTING, f"{TESTING_AT}: ERROR: Current exceeds peak value allowed for range"),
        "power-log",
        "power/ptd_logs.txt",
        "an error outside the ranging run",
        False,
        "'07-23-2024 13:50:00.000: ERROR: Current exceeds peak value allowed for range' "
        "in ptd_log.txt",
    ),
    Defect(
        "uncertainty_over_limit",
        _after(
            GO_TESTING,
            f"{TESTING_AT}: WARNING: Uncertainty 1.35%, which is above 1.00% limit for the "
            "last sample!",
        ),
        "power-log",
        "power/ptd_logs.txt",
        "uncertainty over 1% during the testing run",
        True,  # deliberate: its 800 ms margin is applied as 800 s, longer than this run
        "All checks passed",
    ),
    Defect(
        "uncertainty_checking_off",
        lambda p: _replace(
            p,
            "power/ptd_logs.txt",
            "07-23-2024 13:27:58.864: Uncertainty checking for YokogawaWT210 is activated\n",
            "",
        ),
        "power-log",
        "power/ptd_logs.txt",
        "uncertainty checking was never activated",
        False,
        "ptd_logs.txt: Line 'Uncertainty checking for Yokogawa... is activated' is not found.",
    ),
    Defect(
        "ptd_version",
        _ptd_message(
            "Identify",
            "reply",
            "YokogawaWT210,1000,1,1,1,1,0,0,1,version=1.9.2-ed9a21d2-20220817,OS=Linux",
        ),
        "power-ptd",
        "power/server.json",
        "PTDaemon 1.9.2 is not the round's (1.10.0)",
        False,
        "PTD version '1.9.2' is not supported. Supported versions are 1.10.0",
    ),
    Defect(
        "amps_range_not_restored",
        _ptd_message("SR,A", "cmd", "SR,A,Auto", nth=3),
        "power-ptd",
        "power/server.json",
        "the amps range was not set back to its initial 'SR,A,10.000000'",
        False,
        "Do not set Amps range as initial. Expected 'SR,A,10.000000', got 'SR,A,Auto'.",
    ),
    Defect(
        "failed_start",
        _ptd_message("Go,1000,", "reply", "Error: measurement already running"),
        "power-ptd",
        "power/server.json",
        "PTD replied 'Error: measurement already running' to 'Go,1000,0,",
        False,
        "Wrong reply for 'Go,1000,0,2024-07-23_09-27-46_ranging' command.",
    ),
    Defect(
        "multichannel_on_one_channel",
        _set("server.json", ("ptd_config", "device_type"), 77),
        "power-ptd",
        "power/server.json",
        "analyzer device 77 must measure on two channels",
        False,
        "Expected multichannel mode for YokogawaWT330_multichannel, but got 1-channel.",
    ),
    Defect(
        "replies_differ",
        _set("client.json", ("messages", 2, "reply"), "OK 2024-07-23_09-27-46,other"),
        "power-session",
        "power",
        "the replies to 'new,,a915bb05-ab3a-4d19-a9e9-1026ecec8d73' differ",
        False,
        "Replies on command 'new,,a915bb05-ab3a-4d19-a9e9-1026ecec8d73' are different.",
    ),
    Defect(
        "sources_modified",
        _set("client.json", ("sources", "lib/client.py"), "0" * 40),
        "power-sources",
        "power/client.json",
        "sources are not those of the round's release",
        False,
        "{...} do not exist in 'sources_checksums.json'",
    ),
    Defect(
        "log_edited",
        lambda p: (p / "power" / "client.log").write_text(
            (p / "power" / "client.log").read_text() + "edited\n"
        ),
        "power-checksum",
        "power/client.log",
        "its checksum is not the one the session recorded",
        False,
        "results checksum values and calculated ... content checksum comparison: Expected ...",
        reseal=False,
    ),
    Defect(
        "usb_error_in_testing",
        _after(GO_TESTING, f"{TESTING_AT}: ERROR: USB."),
        "power-log",
        "power/ptd_logs.txt",
        "accepted as a warning",
        True,
        "'...: Warning: USB.' in ptd_log.txt during testing stage but it is accepted. "
        "Treated as WARNING",
        error=False,
    ),
    Defect(
        "unusual_ranging_error",
        _after(GO_RANGING, "07-23-2024 13:30:00.000: ERROR: Lost sync with the analyzer"),
        "power-log",
        "power/ptd_logs.txt",
        "an unusual error during the ranging run",
        True,
        "'...: Warning: Lost sync with the analyzer' in ptd_log.txt during ranging stage. "
        "Treated as WARNING",
        error=False,
    ),
]


def _reseal(perf: Path) -> None:
    """Record the current checksums of the result files, as the power tools would have."""
    for name in ("client.json", "server.json"):

        def change(data: dict[str, Any]) -> None:
            for rel in data["results"]:
                if (perf / rel).is_file():
                    data["results"][rel] = hashlib.sha1((perf / rel).read_bytes()).hexdigest()

        _json(perf, name, change)


def make_copy(dest: Path, defect: Defect) -> Path:
    """A copy of SOURCE's performance/ folder under ``dest`` with ``defect`` in it."""
    perf = dest / "performance"
    shutil.copytree(SOURCE.perf, perf)
    defect.mutate(perf)
    if defect.reseal:
        _reseal(perf)
    return perf


def test_the_published_session_passes() -> None:
    assert session_findings(SOURCE.perf, SOURCE.round) == []


@pytest.mark.parametrize("defect", DEFECTS, ids=[d.name for d in DEFECTS])
def test_a_defect_is_refused_in_one_line(defect: Defect, tmp_path: Path) -> None:
    findings = session_findings(make_copy(tmp_path, defect), SOURCE.round)
    errors = [f for f in findings if f.severity == ERROR]
    if defect.error:
        assert len(errors) == 1, [f.line() for f in errors]
        (found,) = errors
    else:
        assert not errors, [f.line() for f in errors]
        (found,) = [f for f in findings if f.severity == WARNING]
    assert (found.rule, found.path) == (defect.rule, defect.file), found.line()
    assert defect.says in found.message and "\n" not in found.line(), found.line()


def test_the_round_picks_the_rules(tmp_path: Path) -> None:
    """The v4.1 session under the v5.1 rules: another PTDaemon release, other power-dev
    sources and a list of analyzers are expected."""
    errors = [f for f in session_findings(SOURCE.perf, "v5.1") if f.severity == ERROR]
    assert {f.rule for f in errors} == {"power-ptd", "power-sources"}
    assert any("PTDaemon 1.10.0 is not the round's (1.11.1)" in f.message for f in errors)
    assert any("ptd_config must be a list of analyzers" in f.message for f in errors)


def test_check_refuses_the_result_and_drops_its_power_row(tmp_path: Path) -> None:
    """Through `perfpilot submission check`: exit 1, the one line naming the PTD log, and
    the result keeps no power figure."""
    tree = tmp_path / "tree"
    shutil.copytree(TREE, tree)
    error = next(d for d in DEFECTS if d.name == "error_in_testing")
    perf = tree / RESULT / "performance"
    error.mutate(perf)
    _reseal(perf)
    proc = subprocess.run(
        [sys.executable, "-m", "perfpilot", "submission", "check", str(tree), "--round", "v4.1"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "[power-log]" in line]
    assert len(lines) == 1 and f"{RESULT}/performance/power/ptd_logs.txt" in lines[0], proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    report = check_tree(tree, "v4.1")
    (row,) = [r for r in report.results if r.location.endswith("offline")]
    assert row.power is None and not row.passed


def _as_v51(perf: Path) -> None:
    """The session as the v5.1 power tools record it: PTDaemon 1.11.1, the v5.x power-dev
    sources, ptd_config as a list of analyzers."""
    _ptd_message("Identify", "reply", "YokogawaWT210,1000,version=1.11.1-ed9a21d2-20220817")(perf)
    sources = POWER_ROUNDS["v5.1"].sources[0]
    for name in ("client.json", "server.json"):
        _set(name, ("sources",), sources)(perf)
    _set("server.json", ("ptd_config",), [_load(perf, "server.json")["ptd_config"]])(perf)


def _load(perf: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((perf / "power" / name).read_text())
    return data


def _one_more_amps_range(perf: Path) -> None:
    """An extra SR,A before the one that restores the initial range (now the 4th)."""

    def change(data: dict[str, Any]) -> None:
        msgs = data["ptd_messages"]
        at = [i for i, m in enumerate(msgs) if m["cmd"].startswith("SR,A")][1]
        msgs.insert(at + 1, {"cmd": "SR,A,5.0", "reply": "Range A changed"})

    _json(perf, "server.json", change)


def test_the_amps_range_is_restored_third_or_fourth_from_v51(tmp_path: Path) -> None:
    """The official checkers say the same of these copies: v4.1's refuses the extra SR,A
    ("Do not set Amps range as initial. Expected 'SR,A,10.000000', got 'SR,A,5.0'"); v5.1's
    passes it, and refuses the session without it ("Can not find the 4 command starting
    with 'SR,A'"): it looks for a fourth SR,A in every session."""
    v41 = Defect("extra_sr_a", _one_more_amps_range, "", "", "", False, "")
    perf = make_copy(tmp_path / "v41", v41)
    errors = [f for f in session_findings(perf, "v4.1") if f.severity == ERROR]
    assert [f.rule for f in errors] == ["power-ptd"] and "'SR,A,5.0'" in errors[0].message
    v51 = make_copy(tmp_path / "v51", Defect("v51", _as_v51, "", "", "", False, ""))
    errors = [f for f in session_findings(v51, "v5.1") if f.severity == ERROR]
    assert [f.rule for f in errors] == ["power-ptd"] and "fewer than 4 'SR,A'" in errors[0].message
    _one_more_amps_range(v51)
    assert session_findings(v51, "v5.1") == []
