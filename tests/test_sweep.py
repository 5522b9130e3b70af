"""Sweeps: file checks (nothing runs on a bad file), grid and random points, and a real
12-point sweep over backend x threads x batch size that is killed half-way, resumed
without redoing finished points, and reported with its Pareto front."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfpilot.errors import UsageError
from perfpilot.tune.pareto import pareto_front
from perfpilot.tune.sweep import load_sweep, sweep_records
from perfpilot.workspace import Workspace
from tests.conftest import run_cli

GRID = """\
name: {name}
base:
  model: digits-cnn
  scenario: Offline
  target_qps: 2000
  min_duration: 0.05
  count: 1
grid:
  backend: [onnxruntime, openvino, pytorch]
  threads: [1, 2]
  batch_size: [4, 32]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_grid_points_are_checked_and_stable(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path / "s.yaml", GRID.format(name="g")))
    assert spec.name == "g"
    assert len(spec.points) == 12
    assert {p.varied["backend"] for p in spec.points} == {"onnxruntime", "openvino", "pytorch"}
    cfgs = spec.points[0].configs()
    assert len(cfgs) == 1 and cfgs[0].mode == "performance"
    assert cfgs[0].min_duration_ms == 50 and cfgs[0].min_query_count == 1
    # Ids depend on the options, not on the order of the file.
    again = load_sweep(
        write(tmp_path / "t.yaml", GRID.format(name="g").replace("[1, 2]", "[2, 1]"))
    )
    assert {p.point_id for p in again.points} == {p.point_id for p in spec.points}


def test_random_points_follow_the_seed(tmp_path: Path) -> None:
    text = GRID.format(name="r") + "random: 5\nseed: 7\n"
    a = load_sweep(write(tmp_path / "a.yaml", text))
    b = load_sweep(write(tmp_path / "b.yaml", text))
    c = load_sweep(write(tmp_path / "c.yaml", text.replace("seed: 7", "seed: 8")))
    assert len(a.points) == 5
    assert [p.point_id for p in a.points] == [p.point_id for p in b.points]
    assert [p.point_id for p in a.points] != [p.point_id for p in c.points]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (GRID.format(name="x") + "  precison: [fp32]\n", "unknown option 'precison' in sweep"),
        ("name: x\nbase:\n  colour: red\n", "unknown option 'colour' in sweep"),
        ("name: x\ngird:\n  threads: [1]\n", "unknown key 'gird'"),
        ("base: {}\n", "needs a 'name'"),
        ("name: x\ngrid:\n  backend: [onnxruntime, nosuch]\n", "nosuch"),
        ("name: x\ngrid:\n  batch_size: [0]\n", "--batch-size"),
        ("name: x\ngrid: [1, 2\n", "not valid YAML"),
        ("name: x\ngrid:\n  backend_options: [{}, {fast: 1}]\n", "unknown backend option 'fast'"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(UsageError, match=match) as info:
        load_sweep(path)
    if "option" in match:
        assert str(path) in info.value.message


def test_backend_options_can_be_a_grid_axis(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tvm") is None:
        pytest.skip("tvm is not installed")
    text = "name: t\nbase: {backend: tvm}\ngrid:\n  backend_options: [{}, {tune_trials: 8}]\n"
    spec = load_sweep(write(tmp_path / "t.yaml", text))
    options = sorted((p.configs()[0].backend_options for p in spec.points), key=len)
    assert options == [{}, {"tune_trials": 8}]
    assert len({p.point_id for p in spec.points}) == 2
    bad = text.replace("tune_trials: 8", "tune_trials: 0")
    with pytest.raises(UsageError, match="0 for backend option tune_trials"):
        load_sweep(write(tmp_path / "bad.yaml", bad))


def test_unknown_option_through_the_cli_runs_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", GRID.format(name="bad") + "  threadz: [1]\n")
    ws = tmp_path / "ws"
    proc = run_cli("--workspace", str(ws), "sweep", "run", str(path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "threadz" in lines[0] and str(path) in lines[0]
    assert not (ws / "runs").exists()


def _ok_records(ws: Path, name: str) -> list[tuple[str, str]]:
    out = []
    for rec in sweep_records(Workspace(ws), name):
        if rec.status == "ok":
            out.append((rec.tags["point"], rec.run_id))
    return out


@pytest.mark.slow
def test_sweep_killed_and_resumed_then_reported(tmp_path: Path) -> None:
    name = "digits-grid"
    path = write(tmp_path / "sweep.yaml", GRID.format(name=name))
    ws = tmp_path / "ws"
    cmd = [sys.executable, "-m", "perfpilot", "--workspace", str(ws), "sweep", "run", str(path)]
    # Kill the sweep (SIGKILL: no clean-up at all) once a few points have finished.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while len(_ok_records(ws, name)) < 4:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _ok_records(ws, name)
    assert 4 <= len(before) < 12

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{12 - len(before)} points run, {len(before)} skipped" in resumed.stderr
    after = _ok_records(ws, name)
    # Every point finished exactly once; the runs from before the kill are the same runs.
    assert len(after) == 12
    assert len({point for point, _ in after}) == 12
    assert set(before) <= set(after)

    plot = tmp_path / "front.html"
    rep = run_cli(
        "--workspace", str(ws), "sweep", "report", name, "--objectives",
        "throughput:max,memory:min", "--plot", str(plot), "--json",
    )  # fmt: skip
    assert rep.returncode == 0, rep.stderr
    data = json.loads(rep.stdout)
    rows = data["points"]
    assert len(rows) == 12
    assert all(r["throughput"] > 0 and r["memory"] > 0 for r in rows)
    assert {r["options"]["backend"] for r in rows} == {"onnxruntime", "openvino", "pytorch"}
    front = {r["point"] for r in pareto_front(rows, {"throughput": "max", "memory": "min"})}
    assert {r["point"] for r in rows if r["pareto"]} == front
    assert 1 <= len(front) < 12
    html = plot.read_text()
    assert "Pareto-optimal" in html and "plotly" in html.lower()

    table = run_cli("--workspace", str(ws), "sweep", "report", name)
    assert table.returncode == 0, table.stderr
    named = table.stdout.split("Pareto-optimal over", 1)[1]
    default_front = {r["point"] for r in pareto_front(rows, {"throughput": "max", "p99": "min"})}
    assert all(pid in named for pid in default_front)
    assert not any(r["point"] in named for r in rows if r["point"] not in default_front)
