"""Faults end to end, each through the real ``perfpilot`` command and a real LoadGen
child: SIGTERM, SIGHUP, SIGKILL of the parent and of the child, a full disk, a read-only
workspace, an empty database, unreadable run records, a killed dashboard build."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfpilot.errors import UsageError
from tests.conftest import run_cli
from tests.test_artifacts import SHA, Server, server  # noqa: F401 - the fixture

#: A bound against a hang while waiting for a process or a file, far above what it takes.
PATIENCE_S = 300


def _wait_for(what: str, check) -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(proc.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start_run(ws: Path, *extra: str) -> subprocess.Popen[str]:
    """A long Offline performance run of the built-in model, in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "perfpilot", "--workspace", str(ws), "run", "--scenario",
         "Offline", "--mode", "performance", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _child_running(proc: subprocess.Popen[str]) -> int:
    """The LoadGen child's pid, once it has started its test (its settings file exists)."""

    def found() -> int | None:
        if proc.poll() is not None:
            raise AssertionError(f"perfpilot ended early: {proc.communicate()}")
        kids = _children(proc.pid)
        runs = list(Path(proc.args[4]).glob("runs/*/user.conf"))  # type: ignore[index]
        return kids[0] if kids and runs else None

    return int(_wait_for("the LoadGen child", found))  # type: ignore[arg-type]


def _records(ws: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(p.read_text()) for p in sorted(ws.glob("runs/*/run.json"))]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_child_and_record_the_run(
    tmp_path: Path, digits_model: Path, signum: signal.Signals
) -> None:
    ws = tmp_path / "ws"
    proc = _start_run(ws, "--min-duration", "600")
    child = _child_running(proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 130, err
    assert f"interrupted by {signum.name}" in err and "Traceback" not in err
    assert not _alive(child)
    (record,) = _records(ws)
    assert record["status"] == "interrupted"
    assert record["error"] == f"interrupted by {signum.name}"
    (run_dir,) = ws.glob("runs/*")
    assert not (run_dir / "run.pending.json").exists() and not (run_dir / "run.lock").exists()


@pytest.mark.slow
def test_sigkill_of_the_parent_takes_the_child_and_a_later_command_records_it(
    tmp_path: Path, digits_model: Path
) -> None:
    ws = tmp_path / "ws"
    proc = _start_run(ws, "--min-duration", "600")
    child = _child_running(proc)
    proc.kill()
    proc.communicate()
    _wait_for("the child to die with its parent", lambda: not _alive(child))
    (run_dir,) = ws.glob("runs/*")
    assert not (run_dir / "run.json").exists()
    listed = run_cli("--workspace", str(ws), "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert f"recorded run {run_dir.name} as interrupted" in listed.stderr
    (record,) = json.loads(listed.stdout)
    assert record["status"] == "interrupted" and "ended before recording" in record["error"]
    shown = run_cli("--workspace", str(ws), "results", "list", "--format", "json")
    assert [r["run_id"] for r in json.loads(shown.stdout)] == [run_dir.name]  # indexed too


@pytest.mark.slow
def test_a_finished_childs_result_is_recovered_after_the_parent_is_killed(
    tmp_path: Path, digits_model: Path
) -> None:
    """The parent is stopped (SIGSTOP) while its child runs, the child finishes, then the
    parent is killed: the child's complete result is what a later command records."""
    ws = tmp_path / "ws"
    proc = _start_run(ws, "--min-duration", "0.5", "--count", "64")
    child = _child_running(proc)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        (run_dir,) = ws.glob("runs/*")
        _wait_for("the child's result", lambda: not _alive(child))
        assert (run_dir / "child_result.json").exists()
    finally:
        proc.kill()
        proc.communicate()
    rebuilt = run_cli("--workspace", str(ws), "results", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"recorded run {run_dir.name} its result recovered" in rebuilt.stderr
    assert "1 local run(s)" in rebuilt.stdout
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["error"] is None
    assert record["result"]["valid"] is True and record["result"]["metric"] > 0
    assert record["tags"]["recovered"] == "true"
    shown = run_cli("--workspace", str(ws), "runs", "show", run_dir.name[:24], "--json")
    assert json.loads(shown.stdout)["result"]["metric"] == record["result"]["metric"]


@pytest.mark.slow
def test_sigkill_of_the_child_is_recorded_as_failed(tmp_path: Path, digits_model: Path) -> None:
    ws = tmp_path / "ws"
    proc = _start_run(ws, "--min-duration", "600")
    child = _child_running(proc)
    os.kill(child, signal.SIGKILL)
    _, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 1, err
    (record,) = _records(ws)
    assert record["status"] == "failed" and "signal 9" in record["error"]


# -- the workspace's files ---------------------------------------------------------------


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory, digits_model: Path) -> Path:
    """A workspace with one real, recorded and indexed run."""
    ws = tmp_path_factory.mktemp("one") / "ws"
    done = run_cli(
        "--workspace", str(ws), "run", "--scenario", "Offline", "--mode", "performance",
        "--min-duration", "0.2", "--count", "64",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return ws


def _copy(ws: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(ws, dst)
    for path in dst.glob("runs/*/run.json"):  # the record names its own folder
        path.write_text(path.read_text().replace(str(ws), str(dst)))
    return dst


@pytest.mark.slow
def test_unreadable_run_records_are_named_and_their_rows_kept(
    one_run: Path, tmp_path: Path
) -> None:
    ws = _copy(one_run, tmp_path)
    (good,) = ws.glob("runs/*/run.json")
    empty = ws / "runs" / "20200101-000000-offline-perf-0000" / "run.json"
    empty.parent.mkdir()
    empty.write_text("")
    (run_dir,) = [p for p in ws.glob("runs/*") if p != empty.parent]
    good.write_text("[1, 2]\n")  # valid JSON, wrong shape: its database row must survive
    listed = run_cli("--workspace", str(ws), "runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{empty} is not a readable run record" in listed.stderr
    assert f"{good} is not a readable run record" in listed.stderr
    rebuilt = run_cli("--workspace", str(ws), "results", "rebuild")
    assert rebuilt.returncode == 0 and str(good) in rebuilt.stderr
    rows = json.loads(run_cli("--workspace", str(ws), "results", "list", "--format", "json").stdout)
    assert [r["run_id"] for r in rows] == [run_dir.name]


@pytest.mark.slow
def test_an_emptied_database_is_rebuilt(one_run: Path, tmp_path: Path) -> None:
    ws = _copy(one_run, tmp_path)
    (ws / "results.sqlite").write_bytes(b"")
    listed = run_cli("--workspace", str(ws), "results", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert "was empty (0 bytes); rebuilt it" in listed.stderr
    assert len(json.loads(listed.stdout)) == 1


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``where`` (we run as root in CI); the test is skipped where
    mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if ".tmp" in p.name or "building" in p.name)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path, digits_model: Path) -> None:
    with _tmpfs(tmp_path / "small", "4m") as small:
        ws = small / "ws"
        # too small for a run: refused before anything is written
        ran = run_cli("--workspace", str(ws), "run", "--mode", "performance")
        assert ran.returncode == 1, ran.stderr
        assert ran.stderr.startswith("perfpilot: error: no space left on the device for ")
        assert "MiB needed" in ran.stderr and len(ran.stderr.strip().splitlines()) == 1
        assert not list(ws.glob("runs/*"))
        # the dashboard's plotly bundle alone does not fit: ENOSPC mid-way, one line
        (ws / "runs").mkdir(parents=True, exist_ok=True)
        built = run_cli("--workspace", str(ws), "dashboard", "build")
        assert built.returncode == 1, built.stderr
        assert built.stderr.startswith("perfpilot: error: no space left on the device for ")
        assert str(small) in built.stderr and "Traceback" not in built.stderr
        assert len(built.stderr.strip().splitlines()) == 1
        assert _leftovers(small) == [] and not (ws / "dashboard").exists()


@pytest.mark.slow
def test_a_read_only_workspace_is_one_line(one_run: Path, tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "ro", "64m") as mount:
        ws = _copy(one_run, mount)
        locked = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True)
        if locked.returncode != 0:
            pytest.skip("cannot remount the tmpfs read-only here")
        for args in (
            ("run", "--mode", "performance"),
            ("results", "rebuild"),
            ("dashboard", "build"),
        ):
            done = run_cli("--workspace", str(ws), *args)
            assert done.returncode == 2, (args, done.stderr)
            line = done.stderr.strip()
            assert line.startswith("perfpilot: error: ") and "read-only" in line, args
            assert str(mount) in line and len(line.splitlines()) == 1, args
        listed = run_cli("--workspace", str(ws), "runs", "list", "--json")
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 1


# -- a sweep grid too large to build -------------------------------------------------------

#: 8 axes of 10 values: 10^8 points, which a materialised grid could not hold.
HUGE = "name: huge\nbase:\n  model: digits-cnn\ngrid:\n" + "".join(
    f"  {axis}: [{', '.join(str(v) for v in range(1, 11))}]\n"
    for axis in (
        "threads", "batch_size", "backend_threads", "target_qps",
        "count", "max_wait_ms", "samples_per_query", "dataset_size",
    )
)  # fmt: skip


def test_a_huge_sweep_grid_is_counted_refused_or_sampled_never_built(tmp_path: Path) -> None:
    import itertools
    import random

    from perfpilot.tune.sweep import load_sweep

    path = tmp_path / "huge.yaml"
    path.write_text(HUGE)
    done = run_cli("--workspace", str(tmp_path / "ws"), "sweep", "run", str(path), timeout=120)
    assert done.returncode == 2, done.stderr
    assert "100,000,000 points, more than the limit of 10,000" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    # random: N draws N points of the 10^8 lazily, the very points a built grid would give
    path.write_text(HUGE + "random: 4\nseed: 3\n")
    spec = load_sweep(path)
    assert len(spec.points) == 4
    small = (
        "name: s\nbase:\n  model: digits-cnn\n"
        "grid:\n  threads: [1, 2, 3]\n  batch_size: [1, 2, 4, 8]\n"
    )
    path.write_text(small + "random: 5\nseed: 9\n")
    picked = [(p.varied["threads"], p.varied["batch_size"]) for p in load_sweep(path).points]
    grid = list(itertools.product([1, 2, 3], [1, 2, 4, 8]))
    assert picked == random.Random(9).sample(grid, 5)
    path.write_text(small)
    with pytest.raises(UsageError, match="12 points, more than the limit of 10"):
        load_sweep(path, max_points=10)
    assert len(load_sweep(path, max_points=0).points) == 12


def test_a_download_that_cannot_fit_is_refused_before_a_byte_is_written(
    tmp_path: Path,
    server: Server,  # noqa: F811 - the fixture of test_artifacts
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from perfpilot.artifacts import download
    from perfpilot.errors import DiskFullError

    with _tmpfs(tmp_path / "small", "128k") as small:
        monkeypatch.setenv("PERFPILOT_CACHE", str(small / "cache"))
        monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
        monkeypatch.delenv("PERFPILOT_OFFLINE", raising=False)
        with pytest.raises(DiskFullError) as err:
            download.fetch("m", f"{server.url}/model.onnx", sha256=SHA)
        assert "about 200.0 KiB needed" in err.value.message
        assert str(small) in err.value.message
        assert [p for p in small.rglob("*") if p.is_file() and p.stat().st_size] == []
