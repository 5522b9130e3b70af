"""Progress output: the child's phases in progress.json, phase lines off a terminal, no
flood, and an estimate that counts calibration and warm-up."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from perfpilot.cli.fleet_cmds import node_line
from perfpilot.cli.render import live_text
from perfpilot.cli.run_cmd import LOG_EVERY_S, _progress_printer
from perfpilot.engine.live import LiveStats, ProgressWriter, read_phase, read_progress
from tests.conftest import run_cli


def _quiet_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_printer_off_a_terminal_prints_phases_and_a_bounded_number_of_lines() -> None:
    """A 16-minute test, called four times a second as the runner does: one line per
    phase, the estimate once, then one line every LOG_EVERY_S seconds."""
    con, out = _quiet_console()
    show = _progress_printer(con)
    t = 0.0
    for phase, until in (("starting", 1.0), ("loading", 4.0), ("calibrating", 27.0)):
        while t < until:
            show(f"Offline performance: {phase}", t, None, None)
            t += 0.25
    test_s = 16 * 60.0
    while t < 27.0 + test_s:
        show("Offline performance: performance test", t, 27.0 + test_s, None)
        t += 0.25
    lines = out.getvalue().splitlines()
    # a phase under PHASE_SHOWN_AFTER_S gets no line; the test's line has its estimate
    assert lines[:2] == [
        "Offline performance: loading ... (3.0s)",
        "Offline performance: calibrating ... (6.0s)",
    ]
    assert lines[2] == (
        "Offline performance: performance test: expected to take about 16m 27s in all, "
        "including 27s so far for start-up, loading, warm-up and calibration"
    )
    periodic = lines[3:]
    assert test_s / LOG_EVERY_S - 2 <= len(periodic) <= test_s / LOG_EVERY_S  # no flood
    assert all("performance test:" in line and "left" in line for line in periodic)
    assert "~0.0s left" not in periodic[0] and "16:27" in periodic[0]


def test_printer_starts_over_for_the_next_test() -> None:
    con, out = _quiet_console()
    show = _progress_printer(con)
    for label in ("Offline accuracy", "Offline performance"):
        show(f"{label}: calibrating", 1.0, None, None)
        show(f"{label}: performance test", 3.0, 10.0, None)
    text = out.getvalue()
    assert text.count("expected to take about 10s in all") == 2


def _progress_calls(run_dir: Path, phase: str) -> list[tuple[str, float | None]]:
    """What the runner's progress loop reports for a child in ``phase`` whose test's
    expected duration is known: (label, expected) of its first calls."""
    from perfpilot.engine.child import PROGRESS_FILE
    from perfpilot.engine.live import Phases
    from perfpilot.engine.runner import _Progress

    phases = Phases(run_dir / PROGRESS_FILE)
    phases.enter("Offline accuracy test")
    if phase != "Offline accuracy test":
        phases.enter(phase)
    phases.write(expected_s=1.0)
    calls: list[tuple[str, float | None]] = []
    with _Progress(lambda label, _e, expected, _l: calls.append((label, expected)),
                   "Offline accuracy", run_dir):  # fmt: skip
        deadline = time.monotonic() + 60  # a bound for a stalled machine, not a timing
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    return calls


def test_no_estimate_for_a_test_already_finished_when_first_seen(tmp_path: Path) -> None:
    """A test over before the runner's first look (LoadGen done, the child writing its
    logs) gets no "expected to take about" line after the fact; a running test does."""
    from perfpilot.engine.live import FINISHING

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    finished = _progress_calls(tmp_path / "a", FINISHING)
    running = _progress_calls(tmp_path / "b", "Offline accuracy test")
    assert finished and all(expected is None for _, expected in finished)
    assert finished[0][0] == f"Offline accuracy: {FINISHING}"
    assert running and all(expected is not None for _, expected in running)


def test_printer_shows_a_phase_that_says_it_is_long_at_once() -> None:
    con, out = _quiet_console()
    show = _progress_printer(con)
    show("Server performance: calibrating (about 40s)", 0.5, None, None)
    show("Server performance: warming up", 0.75, None, None)  # quick: no line
    assert out.getvalue().splitlines() == ["Server performance: calibrating (about 40s) ... (0.5s)"]


@pytest.mark.slow
def test_run_reports_phases_and_an_estimate_that_includes_calibration(tmp_path: Path) -> None:
    began = time.monotonic()
    # valid execution: a calibration that says it takes 2s or more, so it gets its line
    out = run_cli(
        "--workspace", str(tmp_path / "ws"), "run", "--model", "digits-cnn",
        "--dataset-size", "64", "--scenario", "Offline", "--mode", "performance",
        "--execution", "valid", "--min-duration", "3", "--json",
    )  # fmt: skip
    wall = time.monotonic() - began
    assert out.returncode in (0, 1), out.stderr  # 1: INVALID on a busy machine
    (record,) = json.loads(out.stdout)
    lines = out.stderr.splitlines()
    assert any(
        re.match(r"Offline performance: calibrating \(about \d+s\) \.\.\.", x) for x in lines
    )
    (told,) = [x for x in lines if "expected to take about" in x]
    assert told.startswith("Offline performance: performance test: expected to take about")
    # no flood: a line per phase (model building included) and one every LOG_EVERY_S
    assert len(lines) <= 10 + wall / LOG_EVERY_S

    # progress.json: every phase with its start, in order, the test after calibration
    progress = json.loads((Path(record["run_dir"]) / "progress.json").read_text())
    names = [name for name, _ in progress["phases"]]
    assert names == ["loading", "warming up", "calibrating", "performance test", "finishing"]
    starts = [at for _, at in progress["phases"]]
    assert starts == sorted(starts)
    calibration_s = record["calibration"]["seconds"]
    assert starts[3] - starts[2] >= calibration_s - 0.01  # 3-decimal rounding
    assert progress["setup_s"] >= calibration_s
    phase = read_phase(Path(record["run_dir"]) / "progress.json")
    assert phase is not None and phase.test_started_at == starts[3]

    # the estimate printed covers the setup: at least the calibration's time plus the
    # test's own expected duration (whole seconds, rounded)
    said = re.search(r"about (?:(\d+)m )?(\d+)s in all", told)
    assert said is not None
    total = 60 * int(said.group(1) or 0) + int(said.group(2))
    assert total >= round(calibration_s + progress["expected_s"]) - 1


def test_calibration_estimate_follows_what_calibration_does() -> None:
    from perfpilot.config.run import RunConfig
    from perfpilot.engine.calibrate import expected_calibration_s

    def cfg(**kw: object) -> RunConfig:
        return RunConfig.model_validate({"model": "digits-cnn", "mode": "performance", **kw})

    # a slow model: a few whole predictions, whatever the 2s budget
    assert expected_calibration_s(cfg(scenario="SingleStream", execution="valid"), 3.0, 1) == 15
    # a fast one: 2000 predictions end it before the budget
    fast = expected_calibration_s(cfg(scenario="SingleStream", execution="valid"), 1e-4, 1)
    assert fast == pytest.approx(0.2)
    # nothing to measure: given targets, or an accuracy run
    assert expected_calibration_s(cfg(scenario="Offline", target_qps=100.0), 1.0, 8) == 0
    assert expected_calibration_s(cfg(scenario="Offline", mode="accuracy"), 1.0, 8) == 0
    # Offline: an untimed batch, then the timed loop (at least one whole batch)
    offline = cfg(scenario="Offline", execution="test", threads=1)
    assert expected_calibration_s(offline, 3.0, 8) == 6.0


def _live(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # being replaced this instant
    live = data.get("live") if str(data.get("phase", "")).endswith(" test") else None
    return live if isinstance(live, dict) else None


@pytest.mark.slow
def test_a_classic_run_reports_samples_done_as_it_goes(tmp_path: Path) -> None:
    """Not a token run: the built-in CNN, accuracy then performance. The child's
    progress.json counts the samples done while the test runs, and in the end the count
    LoadGen logged; an accuracy test's out of the dataset's size."""
    ws = tmp_path / "ws"
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfpilot", "--workspace", str(ws), "run",
         "--model", "digits-cnn", "--dataset-size", "64", "--scenario", "Offline",
         "--mode", "both", "--min-duration", "4", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: dict[Path, list[int]] = {}
    while proc.poll() is None:
        for path in ws.glob("runs/*/progress.json"):
            live = _live(path)
            if live is not None and isinstance(live.get("samples"), int):
                counts = seen.setdefault(path.parent, [])
                if not counts or counts[-1] != live["samples"]:
                    counts.append(live["samples"])
        time.sleep(0.05)
    out, err = proc.communicate()
    assert proc.returncode in (0, 1), err  # 1: INVALID on a busy machine
    records = {r["config"]["mode"]: r for r in json.loads(out)}

    perf_dir = Path(records["performance"]["run_dir"])
    counts = seen.get(perf_dir, [])
    # written once a second during a 4-second test: grows while it runs
    assert len(counts) >= 2 and counts == sorted(counts) and counts[-1] > 0, counts
    final = json.loads((perf_dir / "progress.json").read_text())["live"]
    assert final["samples"] == records["performance"]["result"]["sample_count"]
    assert final["samples_per_s"] > 0 and final["total"] is None
    assert final["tokens"] is None  # a classic run counts no tokens

    acc = json.loads((Path(records["accuracy"]["run_dir"]) / "progress.json").read_text())
    assert (acc["live"]["samples"], acc["live"]["total"]) == (64, 64)


def test_lines_show_samples_done_of_a_classic_run_and_an_accuracy_test_out_of_its_total() -> None:
    con, out = _quiet_console()
    show = _progress_printer(con)
    perf = LiveStats(elapsed_s=30.0, samples=63_000, samples_per_s=2_100.0)
    show("Offline performance: performance test", 2.0, 600.0, None)
    show("Offline performance: performance test", 32.0, 600.0, perf)  # 30 s on: a line
    assert out.getvalue().splitlines()[-1] == (
        "  Offline performance: performance test: 32.0s / ~10:00, ~9:28 left, "
        "63,000 samples, 2,100 samples/s"
    )
    acc = LiveStats(elapsed_s=4.0, samples=1_000, samples_per_s=250.0, total=10_000)
    assert live_text(acc) == "1,000 / 10,000 samples, 250 samples/s"
    assert acc.remaining_s() == 36.0  # the pace so far, for the ETA
    assert perf.remaining_s() is None  # no total: the estimate stands
    assert live_text(LiveStats(elapsed_s=9.0, samples=5, samples_per_s=0.556)) == (
        "5 samples, 0.556 samples/s"
    )
    line = {"trial": "batch=8", "test": "Offline performance", "elapsed": 3.0, "samples": 4_100}
    assert node_line("h/1a2b", line).endswith("Offline performance 3.0s, 4,100 samples")


def test_a_written_progress_file_counts_a_classic_runs_samples(tmp_path: Path) -> None:
    done = [0]
    path = tmp_path / "progress.json"
    with ProgressWriter(path, 5.0, samples=lambda: done[0], total=64, period_s=60):
        done[0] = 48  # the harness's counters, as the writer reads them at its end
    expected, live = read_progress(path)
    assert expected == 5.0 and live is not None
    assert (live.samples, live.total, live.tokens) == (48, 64, None)
    assert live.samples_per_s is not None and live.samples_per_s > 0


def test_an_accuracy_test_counts_out_of_what_loadgen_issues() -> None:
    from perfpilot.engine.live import accuracy_samples

    assert accuracy_samples(60, 60) == 60  # every sample once
    assert accuracy_samples(60, 60, samples_per_query=8) == 64  # MultiStream: whole queries
    # sets of 1024 samples, each padded: 1024 + 1024 + 456
    assert accuracy_samples(2500, 1024, samples_per_query=8) == 2504
    assert accuracy_samples(2500, 1024, override=100) == 100  # LoadGen's override
    assert accuracy_samples(10, 1024, override=50) == 10  # capped at the dataset


def test_the_live_line_keeps_to_one_row_of_a_narrow_terminal() -> None:
    """A wrapped live line leaves its first row behind at every redraw: on a narrow
    terminal the line keeps the clock, time left and samples done, and is cut to fit."""
    out = io.StringIO()
    con = Console(file=out, force_terminal=True, width=80, color_system=None)
    show = _progress_printer(con)
    live = LiveStats(elapsed_s=3.0, samples=24_192, samples_per_s=11_997.0)
    show("Offline performance: performance test", 3.0, 9.8, live)
    show("TEST04 MultiStream performance (compliance): performance test", 75.0, 99.0, live)
    drawn = out.getvalue()
    assert "\n" not in drawn
    rows = drawn.split("\r")[:-1]
    assert len(rows) == 2 and all(len(row) == 79 for row in rows)
    assert rows[0].rstrip() == (
        "  Offline performance test: 3.0s / ~9.8s, ~6.8s left, 24,192 samples"
    )
    assert rows[1].startswith("  TEST04 MultiStream performance (compliance): performance test")
    assert rows[1].endswith("\u2026")  # too long even so: cut
    wide = Console(file=io.StringIO(), force_terminal=True, width=160, color_system=None)
    _progress_printer(wide)("Offline performance: performance test", 3.0, 9.8, live)
    assert "24,192 samples, 11,997 samples/s" in wide.file.getvalue()  # type: ignore[attr-defined]
