"""Sweeps and fleets on a real Ray cluster of three nodes on this machine (127.0.0.1),
started once for the module: every point's runs back in the workspace and its database,
each trial alone on its node, a worker node killed mid-trial (the trial runs again
elsewhere, recorded once), the driver killed and the sweep resumed, and bad input."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perfpilot.errors import ChecksumError, UsageError
from perfpilot.records import RunRecord
from perfpilot.workspace import Workspace
from tests.conftest import loadgen_running, run_cli

HAVE_RAY = importlib.util.find_spec("ray") is not None

needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (perfpilot[cluster])")

#: A tiny Offline test of the built-in model: seconds per trial.
TINY = {"model": "digits-cnn", "dataset_size": 64, "target_qps": 500, "count": 1}


def sweep_file(path: Path, name: str, seconds: float, batches: list[int]) -> Path:
    base = {**TINY, "scenario": "Offline", "min_duration": seconds}
    text = f"name: {name}\nbase: {json.dumps(base)}\ngrid:\n  batch_size: {json.dumps(batches)}\n"
    path.write_text(text)
    return path


def node_index(node: Any) -> int:
    """Which node of the fixture's cluster a Ray node object is (by its own cache)."""
    return int(Path(node._ray_params.env_vars["PERFPILOT_CACHE"]).parent.name.split("-")[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from perfpilot.cluster.session import start_local

    root = tmp_path_factory.mktemp("nodes")
    labels = [{"rack": "a"}, {"rack": "a"}, {"rack": "b"}]
    started = start_local(3, root, labels)
    started.perfpilot_root = root
    yield started
    started.shutdown()


def records(ws: Path) -> list[RunRecord]:
    return Workspace(ws).records()


def check_exclusive(recs: list[RunRecord]) -> None:
    """Each trial alone on its node: per node, no two trials' times overlap."""
    spans: dict[str, set[tuple[float, float]]] = {}
    for rec in recs:
        node = rec.provenance["node"]
        spans.setdefault(node["ray_node_id"], set()).add(
            (node["trial_started"], node["trial_finished"])
        )
    for node_spans in spans.values():
        ordered = sorted(node_spans)
        for (_, end), (start, _) in itertools.pairwise(ordered):
            assert start >= end, f"two trials overlapped on one node: {ordered}"


def db_run_ids(ws: Path) -> set[str]:
    from perfpilot.results.db import ResultsDB

    with ResultsDB.open(Workspace(ws), create=False) as db:
        return {str(r["id"]) for r in db.rows()}


# -- without a cluster --------------------------------------------------------------------


def test_addresses_and_labels_are_checked() -> None:
    from perfpilot.cluster.nodes import parse_selector
    from perfpilot.cluster.session import parse_local

    assert parse_local("local:3") == 3 and parse_local("ray://h:10001") is None
    with pytest.raises(UsageError, match="invalid cluster address"):
        parse_local("local:x")
    assert parse_selector("gpu=h100,rack=a") == {"gpu": "h100", "rack": "a"}
    with pytest.raises(UsageError, match="invalid --nodes"):
        parse_selector("gpu")


def test_a_shipped_artifact_is_verified_before_it_counts(tmp_path: Path) -> None:
    from perfpilot.cluster.ship import bundle_for, held, pack, place

    src = tmp_path / "src"
    entry = src / "models" / "m" / "r1"
    entry.mkdir(parents=True)
    (entry / "model.onnx").write_bytes(b"weights")
    (entry / "manifest.json").write_text("{}")
    from perfpilot.artifacts import sha256_file

    sha = sha256_file(entry / "model.onnx")
    bundle = bundle_for(entry / "model.onnx", sha, src)
    assert bundle is not None and set(bundle.files) == {
        "models/m/r1/model.onnx",
        "models/m/r1/manifest.json",
    }
    node = tmp_path / "node"
    assert not held(bundle, node)
    place(bundle, pack(src, bundle.files), node)
    assert held(bundle, node) and (node / "models/m/r1/manifest.json").is_file()
    other = tmp_path / "other"
    bad = bundle.__class__(bundle.relative, "0" * 64, bundle.files)
    with pytest.raises(ChecksumError):
        place(bad, pack(src, bundle.files), other)
    assert not (other / "models").exists()  # nothing kept on a mismatch


@needs_ray
def test_an_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    spec = sweep_file(tmp_path / "s.yaml", "u", 0.05, [4])
    got = run_cli("--workspace", str(tmp_path / "ws"), "sweep", "run", str(spec), "--cluster",
                  "127.0.0.1:9")  # fmt: skip
    assert got.returncode == 2, got.stderr
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0] and "ray start" in lines[0]
    assert not (tmp_path / "ws" / "runs").exists()


# -- on the cluster -----------------------------------------------------------------------


@needs_ray
def test_a_sweep_runs_one_trial_per_node_and_resumes(cluster: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    spec = sweep_file(tmp_path / "s.yaml", "cl", 0.05, [1, 2, 4, 8])
    got = run_cli("--workspace", str(ws), "sweep", "run", str(spec), "--cluster", cluster.address)
    assert got.returncode == 0, got.stderr
    recs = records(ws)
    assert len(recs) == 4 and all(r.status == "ok" for r in recs)
    assert {r.tags["sweep"] for r in recs} == {"cl"}
    assert len({r.tags["point"] for r in recs}) == 4
    alive = {cluster.head_node.node_id, *(n.node_id for n in cluster.worker_nodes)}
    for rec in recs:
        node = rec.provenance["node"]
        assert node["ip"] == "127.0.0.1" and node["hostname"] and node["system"]
        assert rec.tags["node"].endswith(node["ray_node_id"][:8])
        assert (Path(rec.run_dir) / "mlperf_log_detail.txt").is_file()  # LoadGen logs back
        assert Path(rec.run_dir).parent == ws / "runs"
        assert node["ray_node_id"] in alive
    check_exclusive(recs)
    # the model went to each node that ran a trial once, through the object store
    shipped = [r for r in recs if r.provenance["node"]["shipped"]]
    assert 1 <= len(shipped) <= 3
    assert db_run_ids(ws) == {r.run_id for r in recs}
    # the workspace commands read them as local runs
    listed = run_cli("--workspace", str(ws), "runs", "list")
    assert listed.returncode == 0 and all(r.run_id in listed.stdout for r in recs)
    report = run_cli("--workspace", str(ws), "sweep", "report", "cl", "--json")
    assert report.returncode == 0 and len(json.loads(report.stdout)["points"]) == 4
    # a rerun resumes: nothing left to run
    again = run_cli("--workspace", str(ws), "sweep", "run", str(spec), "--cluster", cluster.address)
    assert again.returncode == 0, again.stderr
    assert "0 points run, 4 skipped" in again.stderr
    assert len(records(ws)) == 4


@needs_ray
def test_a_fleet_runs_on_the_labelled_nodes_and_reports(cluster: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    args = ["--workspace", str(ws), "fleet", "run", "f1", "--cluster", cluster.address,
            "--nodes", "rack=a", "--model", "digits-cnn", "--dataset-size", "64",
            "--min-duration", "0.05", "--count", "1", "--target-qps", "500"]  # fmt: skip
    got = run_cli(*args)
    assert got.returncode == 0, got.stderr
    recs = records(ws)
    assert len(recs) == 2 and {r.tags["fleet"] for r in recs} == {"f1"}
    assert {r.provenance["node"]["labels"].get("rack") for r in recs} == {"a"}
    assert len({r.provenance["node"]["ray_node_id"] for r in recs}) == 2
    assert db_run_ids(ws) == {r.run_id for r in recs}
    rep = run_cli("--workspace", str(ws), "fleet", "report", "f1", "--json", "--threshold", "5")
    assert rep.returncode == 0, rep.stderr
    data = json.loads(rep.stdout)
    test = data["tests"][0]
    assert test["test"] == "Offline performance" and len(test["nodes"]) == 2
    values = [n["value"] for n in test["nodes"]]
    assert test["median"] == pytest.approx(sum(values) / 2)
    low = min(values)
    expect_outlier = 100 * (test["median"] - low) / test["median"] > 5
    assert bool(data["outliers"]) == expect_outlier
    assert test["metric"] == "throughput" and test["unit"] == "samples/s"
    # the dashboard's fleet page: the same nodes and outliers, linked from the index
    site = tmp_path / "site"
    built = run_cli("--workspace", str(ws), "dashboard", "build", "--out", str(site),
                    "--fleet-threshold", "5")  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert '<a href="pages/fleet-f1.html">Fleet f1</a>' in (site / "index.html").read_text()
    page = (site / "pages" / "fleet-f1.html").read_text()
    assert all(n["node"] in page for n in test["nodes"])
    assert page.count("OUTLIER</span>") == len(data["outliers"])
    # a label no node has: one line naming the labels there are, nothing run
    bad = run_cli(*[a if a != "rack=a" else "rack=zzz" for a in args])
    assert bad.returncode == 2
    assert "rack=zzz" in bad.stderr and "rack: a, b" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    # a node without the backend's runtime is named before any trial starts
    missing = run_cli(*args[:-8], "--backend", "vllm", "--device", "cuda")
    assert missing.returncode == 2, missing.stderr
    assert "lacks vllm" in missing.stderr and len(records(ws)) == 2


def _wait_for(pred: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(proc: subprocess.Popen[str]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the sweep ended early ({proc.returncode}): {proc.stderr.read()}")  # type: ignore[union-attr]
    return True


def _start(ws: Path, spec: Path, address: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "perfpilot", "--workspace", str(ws), "sweep", "run", str(spec),
         "--cluster", address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@needs_ray
def test_a_trial_whose_node_dies_runs_again_elsewhere(cluster: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    # long enough that the kill lands while the victim's LoadGen test runs
    spec = sweep_file(tmp_path / "k.yaml", "kill", 20.0, [1, 2])
    proc = _start(ws, spec, cluster.address)
    try:
        workers = {node_index(n): n for n in cluster.worker_nodes}

        def busy_worker() -> Any:
            for index, node in workers.items():
                root = cluster.perfpilot_root / f"node-{index}" / "cache" / "cluster-work"
                for progress in root.glob("trial-*/runs/*/progress.json"):
                    # its LoadGen test running now, not a trial that has finished there
                    done = (progress.parent / "run.json").exists()
                    if not done and loadgen_running([progress]):
                        return node
            return None

        victim = _wait_for(lambda: _alive(proc) and busy_worker(), 300, "a trial on a worker")
        victim_id = victim.node_id
        cluster.remove_node(victim, allow_graceful=False)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    recs = records(ws)
    assert len(recs) == 2 and all(r.status == "ok" for r in recs)  # recorded once each
    assert len({r.tags["point"] for r in recs}) == 2
    assert victim_id not in {r.provenance["node"]["ray_node_id"] for r in recs}
    check_exclusive(recs)
    # keep three nodes for the tests that follow
    cluster.add_node(**_node_args(cluster, 3))


def _node_args(cluster: Any, index: int) -> dict[str, Any]:
    from perfpilot.cluster.session import LOCAL_NODE, NODE_RESOURCE

    cache = cluster.perfpilot_root / f"node-{index}" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    return {**LOCAL_NODE, "resources": {NODE_RESOURCE: 1}, "node_ip_address": "127.0.0.1",
            "labels": {"rack": "b"}, "env_vars": {"PERFPILOT_CACHE": str(cache)}}  # fmt: skip


@needs_ray
def test_a_sweep_whose_driver_dies_resumes(cluster: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    spec = sweep_file(tmp_path / "d.yaml", "drv", 3.0, [1, 2, 4, 8, 16])
    proc = _start(ws, spec, cluster.address)
    try:
        _wait_for(lambda: _alive(proc) and records(ws), 300, "a first point recorded")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = {r.run_id for r in records(ws)}
    assert 1 <= len(first) < 5
    again = run_cli("--workspace", str(ws), "sweep", "run", str(spec), "--cluster", cluster.address)
    assert again.returncode == 0, again.stderr
    assert f"{len(first)} skipped" in again.stderr
    recs = records(ws)
    assert {r.run_id for r in recs} >= first
    points = [r.tags["point"] for r in recs if r.status == "ok"]
    assert len(points) == 5 and len(set(points)) == 5  # every point once
    assert db_run_ids(ws) == {r.run_id for r in recs}


@needs_ray
def test_ctrl_c_cancels_the_trials_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    from tests.conftest import default_sigint

    ws = tmp_path / "ws"
    spec = sweep_file(tmp_path / "c.yaml", "cancel", 60.0, [3])
    pattern = "node-*/cache/cluster-work/trial-*/runs/*/progress.json"
    before = set(cluster.perfpilot_root.glob(pattern))  # left by the killed driver's trials
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfpilot", "--workspace", str(ws), "sweep", "run", str(spec),
         "--cluster", cluster.address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
    )  # fmt: skip
    try:

        def running() -> list[Path]:
            fresh = [p for p in cluster.perfpilot_root.glob(pattern) if p not in before]
            return [p.parent for p in fresh if loadgen_running([p])]

        run_dir = _wait_for(lambda: _alive(proc) and running(), 300, "a trial running")[0]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert not records(ws)  # an interrupted trial brings nothing back
    # the trial's LoadGen child was stopped as 'perfpilot run' stops it on Ctrl-C
    children = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(run_dir.name) not in children
