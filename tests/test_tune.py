"""Settings profiles (round trip, errors, ``run --settings``) and a real Server tune of the
built-in model in test mode: a VALID target QPS and a 10%-higher one that is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfpilot.config.run import build_run_configs
from perfpilot.errors import UsageError
from perfpilot.tune.profiles import (
    Profile,
    ScenarioOptions,
    list_profiles,
    load_profile,
    profile_path,
    save_profile,
)
from perfpilot.tune.tuner import parse_budget
from perfpilot.workspace import Workspace
from tests.conftest import run_cli


def make_profile(name: str = "p1", backend: str = "onnxruntime") -> Profile:
    return Profile(
        name=name,
        model="digits-cnn",
        backend=backend,
        scenarios={
            "Offline": ScenarioOptions(target_qps=2500.0, batch_size=16, threads=1),
            "Server": ScenarioOptions(target_qps=700.0),
            "SingleStream": ScenarioOptions(target_latency_ms=0.25),
        },
        found={"date": "2026-11-23", "figures": {"Server": {"valid_qps": 700.0}}},
    )


def test_profile_round_trip(workspace: Workspace) -> None:
    profile = make_profile()
    path = save_profile(workspace, profile)
    assert path == workspace.root / "settings" / "p1.yaml"
    loaded = load_profile(workspace, "p1")
    assert loaded == profile
    assert load_profile(workspace, str(path)) == profile  # a path works too
    assert loaded.options("server") == {"target_qps": 700.0}
    assert loaded.options("Offline") == {"target_qps": 2500.0, "batch_size": 16, "threads": 1}
    assert loaded.options("MultiStream") == {}
    assert list_profiles(workspace) == ["p1"]


def test_profile_apply_explicit_wins_and_mismatch_fails(workspace: Workspace) -> None:
    profile = make_profile()
    configs = build_run_configs("all", "performance")
    applied = profile.apply(configs, explicit={"batch_size"})
    by_scen = {c.scenario: c for c in applied}
    assert by_scen["Offline"].target_qps == 2500.0
    assert by_scen["Offline"].batch_size == 32  # the explicit value stays
    assert by_scen["Offline"].threads == 1
    assert by_scen["Server"].target_qps == 700.0
    assert by_scen["SingleStream"].target_latency_ms == 0.25
    other = build_run_configs("Offline", "performance", backend="openvino")
    with pytest.raises(UsageError, match="is for backend 'onnxruntime', not 'openvino'"):
        profile.apply(other)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("model: digits-cnn\nbackend: onnxruntime\nscenarios:\n  Offline:\n    qps: 3\n",
         "unknown key 'scenarios.Offline.qps'"),
        ("model: digits-cnn\nbackend: onnxruntime\nscenarios:\n  Sever: {}\n",
         "unknown scenario 'Sever'"),
        ("model: digits-cnn\nbackend: onnxruntime\nscenarios:\n  Server:\n    target_qps: -1\n",
         "invalid value for 'scenarios.Server.target_qps'"),
        ("model: [unclosed\n", "not valid YAML"),
        ("- a list\n", "must hold a mapping"),
        ("schema_version: 9\nmodel: m\nbackend: b\n", "schema_version 9"),
    ],
)  # fmt: skip
def test_bad_profiles(workspace: Workspace, text: str, match: str) -> None:
    path = profile_path(workspace, "bad")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(UsageError, match=match) as info:
        load_profile(workspace, "bad")
    assert str(path) in info.value.message


def test_missing_profile_lists_saved_ones(workspace: Workspace) -> None:
    save_profile(workspace, make_profile("mine"))
    with pytest.raises(UsageError, match="no settings profile 'other'") as info:
        load_profile(workspace, "other")
    assert "mine" in (info.value.hint or "")
    with pytest.raises(UsageError, match="invalid settings profile name"):
        load_profile(workspace, "..")


def test_parse_budget() -> None:
    assert parse_budget("90s") == 90
    assert parse_budget("5m") == 300
    assert parse_budget("1m30s") == 90
    assert parse_budget("1h") == 3600
    assert parse_budget("45") == 45
    for bad in ("", "m", "5x", "-3", "0"):
        with pytest.raises(UsageError):
            parse_budget(bad)


@pytest.mark.slow
def test_run_with_settings(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    save_profile(ws, make_profile("fast"))
    base = ["--workspace", str(ws.root), "run", "--settings", "fast", "--mode", "performance"]
    # A profile for another backend: one clear line, nothing run.
    bad = run_cli(*base, "--backend", "openvino")
    assert bad.returncode == 2
    assert "is for backend 'onnxruntime', not 'openvino'" in bad.stderr
    assert not ws.runs_dir.exists()
    proc = run_cli(*base, "--batch-size", "8", "--min-duration", "0.05", "--count", "1", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    # No --scenario: the scenarios the profile holds, each with its own tuned values.
    by_scenario = {r["config"]["scenario"]: r for r in json.loads(proc.stdout)}
    assert sorted(by_scenario) == ["Offline", "Server", "SingleStream"]
    assert by_scenario["Server"]["config"]["target_qps"] == 700.0
    record = by_scenario["Offline"]
    assert record["tags"] == {"settings": "fast"}
    assert record["config"]["target_qps"] == 2500.0  # from the profile
    assert record["config"]["threads"] == 1  # from the profile
    assert record["config"]["batch_size"] == 8  # given on the command line: wins
    assert record["loadgen_settings"]["target_qps"] == 2500.0


@pytest.mark.slow
def test_tune_server_finds_valid_and_invalid_qps(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    for _attempt in range(3):
        proc = run_cli(
            "--workspace", str(ws.root), "tune", "--scenario", "Server", "--budget", "4m",
            "--save", "digits-srv", "--json",
        )  # fmt: skip
        # The budget also pays for training the built-in model on first use (a minute on
        # a loaded machine): 4m leaves room; the search ends as soon as it has its pair.
        # Server latency is load-sensitive: when another job steals the CPU, the tuner
        # reports that its answer did not confirm (exit 1: not bad input). Try up to 3
        # times; a third failure, or any other error, fails the test.
        if not (proc.returncode == 1 and "did not confirm" in proc.stderr):
            break
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    srv = out["server"]
    assert srv["above_qps"] == pytest.approx(srv["valid_qps"] * 1.1, abs=0.2)
    found = ws.load(srv["valid_run"])
    above = ws.load(srv["above_run"])
    # LoadGen's own verdicts, from the run records.
    assert found.result is not None and found.result.valid is True
    assert above.result is not None and above.result.valid is False
    assert found.config["target_qps"] == srv["valid_qps"]
    assert above.config["target_qps"] == srv["above_qps"]
    # Every trial is recorded with the tune's tag.
    tagged = [r for r in ws.records() if r.tags.get("tune") == out["tune_id"]]
    assert len(tagged) == len(out["trials"]) >= 3
    assert {t["stage"] for t in out["trials"]} >= {"probe", "confirm"}
    # The saved profile carries the answer and how it was found.
    profile = load_profile(ws, "digits-srv")
    # one 10% grid step below the VALID load, so that a re-run holds
    assert profile.options("Server") == {"target_qps": round(srv["valid_qps"] / 1.1, 1)}
    assert profile.found["figures"]["Server"]["valid_run"] == srv["valid_run"]
    assert profile.found["tune_id"] == out["tune_id"]
