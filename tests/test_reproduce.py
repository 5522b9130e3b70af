"""``perfpilot reproduce``: a recorded run again, figures side by side, environment diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfpilot.config import build_run_configs
from perfpilot.engine.runner import run_benchmark
from perfpilot.errors import UsageError
from perfpilot.records import ArtifactRecord, RunRecord
from perfpilot.results.db import ResultsDB, index_record
from perfpilot.results.reproduce import environment_diff, figures, reproduce
from perfpilot.workspace import Workspace
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, RunRecord]:
    ws = Workspace(tmp_path_factory.mktemp("repro") / "ws", on_record=index_record)
    (record,) = run_benchmark(
        build_run_configs("Offline", "performance", min_duration_ms=200, min_query_count=50),
        ws,
        ["pytest"],
    )
    assert record.ok, record.error
    return ws, record


@pytest.mark.slow
def test_reproduce_gives_both_figures_and_no_differences(
    recorded: tuple[Workspace, RunRecord],
) -> None:
    ws, old = recorded
    proc = run_cli("--workspace", str(ws.root), "reproduce", old.run_id, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["original"] == old.run_id and report["new"] != old.run_id
    assert report["differences"] == []
    figs = {f["name"]: f for f in report["figures"]}
    assert figs["result"]["old"] == figs["result"]["new"] == "VALID"
    metric = figs["metric (samples/s)"]
    assert metric["old"] == old.result.metric  # type: ignore[union-attr]
    assert metric["new"] > 0
    assert metric["relative"] == pytest.approx((metric["new"] - metric["old"]) / metric["old"])
    assert {"p50 latency (ms)", "p90 latency (ms)", "p99 latency (ms)"} <= set(figs)
    new = ws.load(report["new"])
    assert new.config == old.config  # the same resolved config ran again
    assert new.tags == {"reproduces": old.run_id}
    with ResultsDB.open(ws) as db:  # and it is in the database
        assert [r["id"] for r in db.rows(tag=f"reproduces={old.run_id}")] == [new.run_id]
    text = run_cli("--workspace", str(ws.root), "runs", "list")
    assert report["new"] in text.stdout


@pytest.mark.slow
def test_environment_differences_are_listed(recorded: tuple[Workspace, RunRecord]) -> None:
    _, old = recorded
    software = {**old.provenance["software"], "onnxruntime": "0.0.1"}
    system = {**old.provenance["system"], "cpu_model": "Another CPU"}
    other = old.model_copy(
        update={
            "provenance": {"software": software, "system": system},
            "model": ArtifactRecord(name=old.model.name, sha256="0" * 64),
        }
    )
    diffs = {d.what: (d.old, d.new) for d in environment_diff(old, other)}
    assert set(diffs) == {"package onnxruntime", "system cpu_model", "model sha256"}
    assert diffs["package onnxruntime"] == (old.provenance["software"]["onnxruntime"], "0.0.1")
    assert environment_diff(old, old) == []
    assert [f.name for f in figures(old, other)][:2] == ["result", "metric (samples/s)"]


def test_reproduce_of_an_unknown_run_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no run 'nope'"):
        reproduce(Workspace(tmp_path / "ws"), "nope")
    proc = run_cli("--workspace", str(tmp_path / "ws"), "reproduce", "nope")
    assert proc.returncode == 2 and "no run 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


def _metric_run(value: float | None, status: str = "ok") -> object:
    from types import SimpleNamespace

    return SimpleNamespace(status=status, result=SimpleNamespace(metric=value))


def test_noise_band_decides_whether_a_difference_matters() -> None:
    from perfpilot.results.reproduce import noise

    earlier = [_metric_run(v) for v in (100.0, 104.0, 96.0)]
    old = earlier[0]
    within = noise(earlier, old, _metric_run(103.0))  # type: ignore[arg-type]
    assert within.band == pytest.approx(0.04) and within.runs == 3
    assert within.verdict.startswith("+3.0% is within run-to-run noise (+-4.0%")
    beyond = noise(earlier, old, _metric_run(176.0))  # type: ignore[arg-type]
    assert "+76.0% is beyond run-to-run noise" in beyond.verdict
    alone = noise([old], old, _metric_run(176.0))  # type: ignore[arg-type]
    assert alone.band is None and "noise unknown: 1 earlier run" in alone.verdict
    failed = noise(earlier, old, _metric_run(None, "failed"))  # type: ignore[arg-type]
    assert failed.verdict == "no metric to compare"
