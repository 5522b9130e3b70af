"""Campaigns: tagged runs, resume, reuse only with the same config hash, interruption."""

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
from perfpilot.results.db import index_record
from perfpilot.submission.campaign import campaign_path, run_campaign
from perfpilot.submission.plan import make_plan, rates_from_workspace
from perfpilot.workspace import Workspace
from tests.conftest import default_sigint

pytestmark = pytest.mark.slow
ONLY = ["Offline/accuracy", "Offline/performance"]


def _plan():  # type: ignore[no-untyped-def]
    return make_plan("digits-cnn", "edge", "open", execution="test")


def test_campaign_records_resumes_and_reruns_changed_configs(
    tmp_path: Path, digits_model: Path
) -> None:
    ws = Workspace(tmp_path / "ws", on_record=index_record)
    events: list[str] = []

    def on_event(key: str, text: str) -> None:
        events.append(f"{key}: {text}")

    camp, first = run_campaign(_plan(), ws, lambda s: {}, name="c1", only=ONLY, on_event=on_event)
    assert [o.item.key for o in first] == ONLY
    assert all(o.passed and not o.reused for o in first)
    state = json.loads(campaign_path(ws, "c1").read_text())
    assert set(state["runs"]) == set(ONLY)
    rec = ws.load(state["runs"]["Offline/performance"]["run_id"])
    assert rec.tags == {"campaign": "c1", "round": camp.plan.round, "item": "Offline/performance"}

    # the next plan sizes the accuracy pass from this one's wall time, the rest from the run
    acc = ws.load(state["runs"]["Offline/accuracy"]["run_id"])
    rates = rates_from_workspace("digits-cnn", "onnxruntime", ws)["Offline"]
    assert rates.accuracy_source == f"run {acc.run_id}" and rates.source == f"run {rec.run_id}"
    assert acc.accuracy is not None and rates.accuracy_rate is not None
    assert rates.throughput == pytest.approx(float(rec.result.metric))  # type: ignore[union-attr]
    wall = rates.accuracy_rate and acc.accuracy.total / rates.accuracy_rate
    assert 0 < wall <= 600
    plan = make_plan("digits-cnn", "edge", "open", execution="test", rates={"Offline": rates})
    basis = {i.key: i.basis for i in plan.items}
    assert acc.run_id in basis["Offline/accuracy"] and "other" in basis["SingleStream/accuracy"]

    # same command again: nothing runs
    n_runs = len(list(ws.runs_dir.iterdir()))
    _, again = run_campaign(_plan(), ws, lambda s: {}, name="c1", only=ONLY)
    assert all(o.reused for o in again)
    assert len(list(ws.runs_dir.iterdir())) == n_runs

    # a different setting: never reused silently, the reason names the field
    events.clear()
    _, changed = run_campaign(
        _plan(),
        ws,
        lambda s: {"batch_size": 16},
        name="c1",
        only=["Offline/performance"],
        on_event=on_event,
    )
    assert [o.reused for o in changed] == [False]
    assert any("config differs" in e and "batch_size: 32 -> 16" in e for e in events)
    state = json.loads(campaign_path(ws, "c1").read_text())
    assert state["runs"]["Offline/performance"]["run_id"] == changed[0].record.run_id


def test_campaign_name_belongs_to_one_submission(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", on_record=index_record)
    path = campaign_path(ws, "c2")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"plan": {"model": "resnet50-standin"}, "runs": {}}))
    with pytest.raises(UsageError, match="was started for model 'resnet50-standin'"):
        run_campaign(_plan(), ws, lambda s: {}, name="c2", only=ONLY)
    with pytest.raises(UsageError, match="invalid campaign name"):
        campaign_path(ws, "../escape")


def test_ctrl_c_stops_cleanly_and_the_campaign_resumes(tmp_path: Path, digits_model: Path) -> None:
    ws = tmp_path / "ws"
    cmd = [
        sys.executable,
        "-m",
        "perfpilot",
        "--workspace",
        str(ws),
        "submission",
        "run",
        "--model",
        "digits-cnn",
        "--division",
        "open",
        "--execution",
        "test",
        "--name",
        "c3",
        *[f"--only={o}" for o in ONLY],
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list((ws / "runs").glob("*offline-perf*")) if (ws / "runs").exists() else []:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    perf_dir = next((ws / "runs").glob("*offline-perf*"))
    assert json.loads((perf_dir / "run.json").read_text())["status"] == "interrupted"
    resume = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=300)
    assert resume.returncode == 0, resume.stderr
    runs = {r["item"]: r for r in json.loads(resume.stdout)["runs"]}
    assert runs["Offline/accuracy"]["reused"] is True
    assert runs["Offline/performance"]["reused"] is False
    assert "did not pass (interrupted" in resume.stderr
