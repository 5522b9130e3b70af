"""Submission plans: required runs per round and category, refusals, estimates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfpilot.errors import UsageError
from perfpilot.submission import rounds
from perfpilot.submission.plan import Rates, make_plan
from tests.conftest import run_cli


def test_closed_resnet_edge_plan_lists_every_required_run() -> None:
    plan = make_plan("resnet50", "edge", "closed", rounds.default_round())
    assert plan.scenarios == ["SingleStream", "MultiStream", "Offline"]
    assert plan.folder_model == "resnet50" and plan.mlperf_model == "resnet"
    keys = [i.key for i in plan.items]
    for scen in plan.scenarios:
        for kind in ("accuracy", "performance", "TEST01", "TEST04"):
            assert f"{scen}/{kind}" in keys
    perf = [i for i in plan.items if i.kind == "performance"]
    assert all(i.estimate_s >= 600 for i in perf)  # official min duration
    assert all(i.lower_bound for i in perf)  # no rate known


def test_datacenter_edge_adds_server() -> None:
    plan = make_plan("resnet50", "datacenter,edge", "closed", rounds.default_round())
    assert "Server" in plan.scenarios


def test_refusals_name_the_reason_and_the_fix() -> None:
    with pytest.raises(UsageError, match=r"stand-in.*only be planned as open"):
        make_plan("resnet50-standin", "edge", "closed")
    with pytest.raises(UsageError, match="not the reference model"):
        make_plan("digits-cnn", "edge", "closed")
    with pytest.raises(UsageError, match="cannot be submitted on a 'datacenter'"):
        make_plan("resnet50", "datacenter", "closed", "v6.1")
    with pytest.raises(UsageError, match="unknown MLPerf Inference round"):
        make_plan("resnet50", "edge", "closed", "v3.0")
    other = next(r for r in reversed(rounds.ROUNDS) if r != rounds.default_round())
    with pytest.raises(UsageError, match="does not carry the seeds") as err:
        make_plan("resnet50", "edge", "closed", other)
    assert "pip install" in err.value.one_line()


def test_open_plan_maps_non_reference_models_and_older_rounds() -> None:
    plan = make_plan("digits-cnn", "edge", "open", "v4.1", execution="test")
    assert plan.mlperf_model == "resnet" and plan.folder_model == "digits-cnn"
    assert not plan.reference
    assert any("model_mapping" in n for n in plan.notes)
    assert "TEST05" in {i.kind for i in plan.items}  # v4.1 still had TEST05
    assert all(i.estimate_s < 60 for i in plan.items)  # test-length runs


def test_known_rates_size_the_estimates() -> None:
    rates = {
        "Offline": Rates(throughput=10.0, source="x"),
        "SingleStream": Rates(query_latency_s=7.0, source="x"),
        "MultiStream": Rates(query_latency_s=1.0, source="x"),
    }
    plan = make_plan("resnet50", "edge", "closed", rounds.default_round(), rates=rates)
    est = {i.key: i for i in plan.items}
    assert est["Offline/performance"].estimate_s >= 24576 / 10.0  # minimum samples per query
    # Early stopping: LoadGen's minimum query counts (100; mlperf.conf's 662 for
    # MultiStream), not the checker's 270336, which it skips for these scenarios.
    assert est["SingleStream/performance"].estimate_s == pytest.approx(100 * 7.0, abs=30)
    assert est["MultiStream/performance"].estimate_s == pytest.approx(662 * 1.0, abs=30)
    assert est["Offline/accuracy"].estimate_s >= 50000 / 10.0
    assert not est["Offline/performance"].lower_bound
    # each latency scenario's accuracy pass goes at its own pace: one query at a time
    assert est["SingleStream/accuracy"].estimate_s == pytest.approx(50000 * 7.0, abs=30)
    assert est["MultiStream/accuracy"].estimate_s == pytest.approx(50000 / 8 * 1.0, abs=30)
    # an earlier accuracy pass of the scenario is the best guide; profiles keep it
    measured = Rates(accuracy_rate=12.5, accuracy_source="run a1")
    merged = measured.merged(Rates(query_latency_s=0.08, source="profile p"))
    assert (merged.query_latency_s, merged.accuracy_rate) == (0.08, 12.5)
    plan = make_plan("resnet50", "edge", "closed", rates={**rates, "SingleStream": merged})
    ss = {i.key: i for i in plan.items}["SingleStream/accuracy"]
    assert ss.estimate_s == pytest.approx(50000 / 12.5, abs=30) and "run a1" in ss.basis


def test_cli_plan_json_and_refusal(tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    proc = run_cli(
        *ws,
        "submission",
        "plan",
        "--model",
        "digits-cnn",
        "--division",
        "open",
        "--execution",
        "test",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["round"] == rounds.default_round() and len(data["items"]) == 12, data
    bad = run_cli(*ws, "submission", "plan", "--model", "resnet50-standin", "--division", "closed")
    assert bad.returncode == 2, bad.stderr
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("perfpilot: error:") and "open" in last, bad.stderr
    assert "Traceback" not in bad.stderr


def test_wall_time_of_a_run_from_its_second_stamps() -> None:
    from perfpilot.submission.plan import _wall_seconds

    t0, t1 = "2026-11-23T21:24:23+0000", "2026-11-23T23:26:43+0000"
    assert _wall_seconds(t0, t1) == 2 * 3600 + 2 * 60 + 20
    assert _wall_seconds(t0, t0) == 1.0  # began and ended within one second
    assert _wall_seconds(t1, t0) is None and _wall_seconds(t0, "") is None
