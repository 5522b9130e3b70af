"""``perfpilot results ...`` on real runs of the built-in model (and the ResNet50 stand-in)
beside the imported official submission."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from perfpilot.config import build_run_configs
from perfpilot.engine.runner import run_benchmark
from perfpilot.records import RunRecord
from perfpilot.results.db import ResultsDB, index_record, rebuild
from perfpilot.results.export import to_mlflow
from perfpilot.workspace import Workspace
from tests.conftest import FIXTURE, needs_fixture, run_cli

SHORT = {"min_duration_ms": 200, "min_query_count": 50}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, list[RunRecord]]:
    """Real LoadGen runs: digits-cnn Offline (tagged as a sweep point) and SingleStream."""
    ws = Workspace(tmp_path_factory.mktemp("results") / "ws", on_record=index_record)
    offline = run_benchmark(
        build_run_configs("Offline", "performance", **SHORT),
        ws,
        ["pytest"],
        tags={"sweep": "s1", "point": "1"},
    )
    stream = run_benchmark(
        build_run_configs("SingleStream", "performance", min_duration_ms=200, min_query_count=100),
        ws,
        ["pytest"],
    )
    records = offline + stream
    assert all(r.status == "ok" for r in records), [r.error for r in records]
    return ws, records


def _cli(ws: Workspace, *args: str) -> Any:
    proc = run_cli("--workspace", str(ws.root), *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def _json(ws: Workspace, *args: str) -> Any:
    return json.loads(_cli(ws, *args, "--format", "json").stdout)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("perfpilot: error: ") and "Traceback" not in stderr
    return lines[0]


@pytest.mark.slow
def test_each_run_lands_in_the_database_as_it_is_written(
    runs: tuple[Workspace, list[RunRecord]],
) -> None:
    ws, records = runs
    with ResultsDB.open(ws) as db:
        rows = {r["id"]: r for r in db.rows()}
        assert db.sweeps() == ["s1"]
        assert [r["id"] for r in db.rows(tag="sweep=s1")] == [records[0].run_id]
    assert set(rows) == {r.run_id for r in records}
    off, ss = rows[records[0].run_id], rows[records[1].run_id]
    assert off["source"] == "local" and off["valid"] is True
    assert off["value"] == records[0].result.metric  # type: ignore[union-attr]
    assert off["metric"] == "samples_per_second" and ss["metric"] == "latency_ms"
    assert ss["value"] == pytest.approx(records[1].result.metric)  # type: ignore[union-attr]
    assert off["provenance"]["config_hash"] == records[0].config_hash
    assert off["provenance"]["model"]["sha256"] == records[0].model.sha256
    assert off["config"]["threads"] == records[0].config["threads"]
    assert off["tags"] == {"sweep": "s1", "point": "1"}


@pytest.mark.slow
def test_rebuild_gives_what_the_incremental_writes_gave(
    runs: tuple[Workspace, list[RunRecord]], tmp_path: Path
) -> None:
    ws, _ = runs
    with ResultsDB.open(ws) as db:
        incremental = db.rows()
    copy = tmp_path / "rebuilt.sqlite"
    path, local, kept = rebuild(ws, copy)
    assert (path, local, kept) == (copy, 2, 0)
    with ResultsDB.open(copy) as db:
        assert db.rows() == incremental
    proc = _cli(ws, "results", "rebuild", "--db", str(copy))
    assert "2 local run(s)" in proc.stdout


@pytest.mark.slow
def test_a_database_failure_warns_and_keeps_the_run_record(
    runs: tuple[Workspace, list[RunRecord]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = Workspace(tmp_path / "ws", on_record=index_record)
    run_dir = ws.runs_dir / "copied-run"
    shutil.copytree(Path(runs[1][0].run_dir), run_dir)
    (run_dir / "run.json").unlink()
    ws.root.mkdir(exist_ok=True)
    db_file = ws.root / "results.sqlite"
    db_file.write_bytes(b"corrupt" * 100)
    record = runs[1][0].model_copy(update={"run_dir": str(run_dir), "run_id": "copied-run"})
    ws.write_record(record)
    assert ws.load("copied-run").run_id == "copied-run"  # the record is safe
    err = capsys.readouterr().err
    assert "warning: run copied-run is recorded in run.json but not in the results database" in err
    assert db_file.read_bytes() == b"corrupt" * 100
    # rebuild replaces the unreadable file and catches up
    assert rebuild(ws)[1] == 1
    with ResultsDB.open(ws) as db:
        assert [r["id"] for r in db.rows()] == ["copied-run"]


@pytest.mark.slow
def test_list_filters_and_formats(runs: tuple[Workspace, list[RunRecord]]) -> None:
    ws, records = runs
    with ResultsDB.open(ws) as db:
        assert [r["id"] for r in db.rows(scenario="singlestream")] == [records[1].run_id]
        assert [r["id"] for r in db.rows(tag=["point=1", "sweep=s1"])] == [records[0].run_id]
        assert db.rows(tag={"sweep": "s2"}) == []
        assert db.rows(backend="openvino") == [] and db.rows(source="published") == []
        assert len(db.rows(model="digits-cnn", device="cpu", backend="onnxruntime")) == 2
        assert db.rows(since="2999-01-01") == []
        assert len(db.rows(until="2999-01-01")) == 2
    scen = _json(ws, "results", "list", "--scenario", "SingleStream", "--tag", "x=y")
    assert scen == []
    table = _cli(ws, "results", "list").stdout
    assert records[0].run_id in table and "VALID" in table
    got = list(csv.DictReader(io.StringIO(_cli(ws, "results", "list", "--format", "csv").stdout)))
    assert {g["id"] for g in got} == {r.run_id for r in records}
    assert {g["tags"] for g in got} == {"point=1;sweep=s1", ""}
    shown = json.loads(
        _cli(ws, "results", "show", records[0].run_id[:-2], "--format", "json").stdout
    )
    assert shown["id"] == records[0].run_id and shown["run_dir"] == records[0].run_dir


@needs_fixture
@pytest.mark.slow
def test_import_then_compare_beside_local_resnet50_runs(tmp_path: Path) -> None:
    """The done-when case: published Intel resnet50 beside a local run of resnet50 (the
    stand-in, on a synthetic ImageNet folder)."""
    pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")
    from perfpilot.tasks.imagenet.dataset import make_synthetic_imagenet

    ws = Workspace(tmp_path / "ws", on_record=index_record)
    folder = make_synthetic_imagenet(tmp_path / "imagenet", count=16, seed=3)
    (local,) = run_benchmark(
        build_run_configs(
            "Offline",
            "performance",
            model="resnet50-standin",
            dataset_path=folder,
            dataset_size=16,
            min_duration_ms=200,
        ),
        ws,
    )
    assert local.status == "ok", local.error
    imported = _json(ws, "results", "import", str(FIXTURE))
    assert {(r["scenario"], r["value"], r["accuracy"]) for r in imported} == {
        ("Offline", 25204.5, 75.73),
        ("Server", 22501.8, 75.73),
    }
    groups = _json(ws, "results", "compare", "--model", "resnet50")
    by_scenario = {g["scenario"]: g for g in groups}
    offline = by_scenario["Offline"]
    assert offline["benchmark"] == "resnet50"
    assert offline["reference"].endswith("resnet50/Offline")
    sources = [r["source"] for r in offline["rows"]]
    assert sources == ["published", "local"]
    mine = offline["rows"][1]
    assert mine["id"] == local.run_id and mine["model"] == "resnet50-standin"
    assert mine["ratio"] == pytest.approx(mine["value"] / 25204.5)
    assert offline["rows"][0]["ratio"] == 1.0
    assert [r["source"] for r in by_scenario["Server"]["rows"]] == ["published"]
    table = _cli(ws, "results", "compare", "--model", "resnet50").stdout
    assert "25,204.5 samples/s" in table and local.run_id in table and "Intel" in table


@needs_fixture
def test_import_errors_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    not_tree = tmp_path / "photos"
    not_tree.mkdir()
    (not_tree / "cat.jpg").write_bytes(b"x")
    proc = run_cli("--workspace", str(ws), "results", "import", str(not_tree))
    assert proc.returncode == 2
    assert "is not an MLPerf submission tree" in _one_error_line(proc.stderr)
    assert not (ws / "results.sqlite").exists()

    bad_db = tmp_path / "bad.sqlite"
    bad_db.write_bytes(b"\x00garbage" * 512)
    proc = run_cli("--workspace", str(ws), "results", "import", str(FIXTURE), "--db", str(bad_db))
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "is not a readable results database" in line and "results rebuild" in line
    assert bad_db.read_bytes() == b"\x00garbage" * 512
    proc = run_cli("--workspace", str(ws), "results", "list", "--db", str(bad_db))
    assert proc.returncode == 2 and "results rebuild" in _one_error_line(proc.stderr)
    proc = run_cli("--workspace", str(ws), "results", "list", "--tag", "oops")
    assert proc.returncode == 2 and "bad tag filter 'oops'" in _one_error_line(proc.stderr)


@pytest.mark.slow
def test_export_csv_json_and_mlflow(
    runs: tuple[Workspace, list[RunRecord]], tmp_path: Path
) -> None:
    ws, records = runs
    out = tmp_path / "rows.json"
    _cli(ws, "results", "export", "--to", "json", "--out", str(out))
    assert {r["id"] for r in json.loads(out.read_text())} == {r.run_id for r in records}

    mlflow = pytest.importorskip("mlflow", reason="pip install 'perfpilot[mlflow]'")
    track = tmp_path / "mlruns"
    first = _cli(ws, "results", "export", "--to", "mlflow", "--tracking-uri", str(track))
    assert "2 run(s) logged, 0 already there" in first.stdout
    with ResultsDB.open(ws) as db:
        again = to_mlflow(db.rows(), str(track))
    assert (again.exported, len(again.skipped)) == ([], 2)  # idempotent

    client = mlflow.tracking.MlflowClient(f"sqlite:///{track / 'mlflow.db'}")
    exp = client.get_experiment_by_name("perfpilot")
    found = client.search_runs([exp.experiment_id])
    assert len(found) == 2
    by_id = {r.data.tags["perfpilot.run_id"]: r for r in found}
    offline = by_id[records[0].run_id]
    assert offline.data.metrics["samples_per_second"] == pytest.approx(
        records[0].result.metric  # type: ignore[union-attr]
    )
    assert offline.data.metrics["valid"] == 1.0
    assert offline.data.params["scenario"] == "Offline"
    assert offline.data.params["threads"] == str(records[0].config["threads"])
    assert offline.data.tags["perfpilot.tag.sweep"] == "s1"
    assert offline.info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(offline.info.run_id)}
    assert {"run.json", "mlperf_log_detail.txt", "mlperf_log_summary.txt"} <= names


def _shared(ws: Workspace, url: str, *args: str, env: dict[str, str] | None = None) -> Any:
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "perfpilot", "--workspace", str(ws.root), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PERFPILOT_DB": url, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@needs_fixture
@pytest.mark.slow
def test_the_results_commands_work_against_either_database(
    runs: tuple[Workspace, list[RunRecord]], db_target: str, tmp_path: Path
) -> None:
    """PERFPILOT_DB names the database: the first command catches it up with the
    workspace's runs, then import, list, show, compare, export and the dashboard use it."""
    ws, records = runs
    with ResultsDB.open(ws) as own:
        expected = own.rows()
    listed = json.loads(_shared(ws, db_target, "results", "list", "--format", "json").stdout)
    assert listed == json.loads(json.dumps(expected, default=str))  # indexed from run.json
    again = _shared(ws, db_target, "results", "sync").stdout
    assert "0 run(s) indexed, 2 already there" in again
    _shared(ws, db_target, "results", "import", str(FIXTURE))
    with ResultsDB.open(db_target) as db:
        assert len(db.rows(source="published")) == 2 and db.sweeps() == ["s1"]
    shown = json.loads(
        _shared(ws, db_target, "results", "show", records[0].run_id, "--format", "json").stdout
    )
    assert shown["value"] == records[0].result.metric  # type: ignore[union-attr]
    groups = json.loads(_shared(ws, db_target, "results", "compare", "--format", "json").stdout)
    assert {g["scenario"] for g in groups} >= {"Offline", "Server", "SingleStream"}
    out = tmp_path / "rows.csv"
    _shared(ws, db_target, "results", "export", "--to", "csv", "--out", str(out))
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == 4
    built = json.loads(
        _shared(
            ws, db_target, "dashboard", "build", "--out", str(tmp_path / "site"), "--json"
        ).stdout
    )
    assert (built["local"], built["published"]) == (2, 2)
    rebuilt = _shared(ws, db_target, "results", "rebuild").stdout
    assert "2 local run(s), 2 published result(s) kept" in rebuilt
    with ResultsDB.open(db_target) as db:
        assert len(db.rows()) == 4 and len(db.rows(tag="sweep=s1")) == 1


@pytest.mark.slow
def test_a_run_with_the_database_unreachable_keeps_its_record_and_sync_indexes_it(
    tmp_path: Path, postgres: Any
) -> None:
    from tests.pg import free_port

    ws = tmp_path / "ws"
    down = f"postgresql://perfpilot:s3cret@127.0.0.1:{free_port()}/results"
    args = ["run", "--scenario", "Offline", "--mode", "performance", "--count", "50"]
    proc = run_cli("--workspace", str(ws), "--db", down, *args, "--min-duration", "0.2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("perfpilot: error: ")]
    assert len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0]), proc.stderr
    line = errors[0]
    assert "is recorded in" in line and "but not in the results database" in line
    assert "perfpilot:***@127.0.0.1" in line and "s3cret" not in line
    assert "Start the PostgreSQL server" in line and "results sync" in line
    (record,) = Workspace(ws).records()  # the run is safe in its run.json
    assert record.status == "ok" and record.run_id in line

    up = postgres.new_database()
    synced = _shared(Workspace(ws), up, "results", "sync").stdout
    assert "1 run(s) indexed, 0 already there" in synced
    with ResultsDB.open(up) as db:
        (row,) = db.rows()
    assert row["id"] == record.run_id and row["value"] == record.result.metric  # type: ignore[union-attr]

    _shared(Workspace(ws), up, *args, "--min-duration", "0.2")  # reachable: indexed as run
    newest = Workspace(ws).records()[-1]
    with ResultsDB.open(up) as db:
        assert [r["id"] for r in db.rows()] == [record.run_id, newest.run_id]
    assert not (ws / "results.sqlite").exists()  # nothing went to the workspace's file


def test_a_bad_database_url_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    proc = run_cli("--workspace", str(ws), "--db", "mysql://ann:s3cret@db/x", "run")
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "unsupported database URL scheme 'mysql' in --db" in line and "s3cret" not in line
    assert not ws.exists()

    pytest.importorskip("psycopg", reason="pip install 'perfpilot[postgres]'")
    from tests.pg import free_port

    down = f"postgresql://ann:s3cret@127.0.0.1:{free_port()}/results"
    for args in (["results", "list"], ["dashboard", "build"], ["results", "sync"]):
        proc = run_cli("--workspace", str(ws), "--db", down, *args)
        assert proc.returncode == 2, proc.stderr
        line = _one_error_line(proc.stderr)
        assert "cannot reach the results database postgresql://ann:***@127.0.0.1" in line
        assert "s3cret" not in line and "Start the PostgreSQL server" in line


@pytest.mark.slow
def test_a_model_of_the_users_is_labelled_with_its_file_and_hash(
    tmp_path: Path, digits_model: Path
) -> None:
    """--model-path my.onnx: the table, runs list and the results database name the
    user's file and its short hash, not the catalog model whose task it runs."""
    from perfpilot.artifacts import sha256_file

    mine = tmp_path / "my.onnx"
    shutil.copy(digits_model, mine)
    ws = str(tmp_path / "ws")
    done = run_cli(
        "--workspace", ws, "run", "--model-path", str(mine), "--mode", "accuracy",
        "--dataset-size", "64",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    label = f"my.onnx@{sha256_file(mine)[:8]}"
    assert f"perfpilot run: {label} on onnxruntime" in done.stdout
    assert label in run_cli("--workspace", ws, "runs", "list").stdout
    rows = json.loads(run_cli("--workspace", ws, "results", "list", "--json").stdout)
    assert [r["model"] for r in rows] == [label]
