"""Compliance tests: official audit.config contents, the verify scripts' thresholds and
formats, placement, and one real TEST01 run on LoadGen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfpilot.errors import UsageError
from perfpilot.submission import compliance as comp
from tests.conftest import run_cli


def _detail(folder: Path, scenario: str, score: float, valid: bool = True, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = {
        "effective_scenario": scenario,
        "result_validity": "VALID" if valid else "INVALID",
        comp.RESULT_FIELD[scenario]: score,
        **extra,
    }
    lines = [
        ":::MLLOG " + json.dumps({"key": k, "value": v, "metadata": {}}) for k, v in values.items()
    ]
    (folder / "mlperf_log_detail.txt").write_text("\n".join(lines) + "\n")
    return folder


def _summary(folder: Path, scenario: str, line: str, valid: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = (
        "================================================\n"
        "MLPerf Results Summary\n"
        "================================================\n"
        f"SUT name : PySUT\nScenario : {scenario}\nMode     : PerformanceOnly\n"
        f"{line}\nResult is : {'VALID' if valid else 'INVALID'}\n"
    )
    (folder / "mlperf_log_summary.txt").write_text(text)
    return folder


def test_audit_configs_carry_the_official_settings() -> None:
    t1 = comp.audit_config("TEST01", "resnet")
    assert "*.*.mode = 2" in t1
    assert "*.*.accuracy_log_rng_seed = 720381539243781796" in t1
    assert "*.*.accuracy_log_sampling_target = 4096" in t1
    assert "*.*.accuracy_log_sampling_target = 256" in comp.audit_config("TEST01", "retinanet")
    t4 = comp.audit_config("TEST04", "resnet")
    for scen in ("SingleStream", "MultiStream", "Server", "Offline"):
        assert f"*.{scen}.performance_issue_same = 1" in t4
        assert f"*.{scen}.performance_issue_same_index = 3" in t4
        assert f"*.{scen}.performance_issue_unique = 0" in t4
    assert "*.*.test05 = 1" in comp.audit_config("TEST05", "resnet")


def test_unknown_or_retired_tests_are_refused() -> None:
    with pytest.raises(UsageError, match="unknown compliance test"):
        comp.check_test("TEST99")
    with pytest.raises(UsageError, match=r"TEST05 is not part of round v6\.1"):
        comp.check_test("test05", "v6.1", "resnet")
    assert comp.check_test("test05", "v4.1", "resnet") == "TEST05"


def test_test01_performance_tolerance(tmp_path: Path) -> None:
    ref = _detail(tmp_path / "ref", "Offline", 1000.0)
    inside = comp.verify_performance_detail(ref, _detail(tmp_path / "a", "Offline", 1090.0))
    assert inside.passed
    assert inside.text.splitlines() == [
        "Verifying performance.",
        "reference score = 1000.0",
        "test score = 1090.0",
        "TEST PASS",
    ]
    outside = comp.verify_performance_detail(ref, _detail(tmp_path / "b", "Offline", 890.0))
    assert not outside.passed and outside.text.rstrip().endswith("TEST FAIL: Test score invalid")
    # the message of a failure carries its figures, not only the file
    assert outside.line() == (
        "performance: TEST FAIL: Test score invalid (Offline test 890.000 vs reference "
        "1,000.000 samples/s, -11.0%; allowed: within +-10%)"
    )
    # SingleStream with a reference <= 200000 ns gets 20%
    ss_ref = _detail(tmp_path / "c", "SingleStream", 150000)
    assert comp.verify_performance_detail(
        ss_ref, _detail(tmp_path / "d", "SingleStream", 175000)
    ).passed
    big_ref = _detail(tmp_path / "e", "SingleStream", 1500000)
    assert not comp.verify_performance_detail(
        big_ref, _detail(tmp_path / "f", "SingleStream", 1750000)
    ).passed
    invalid = comp.verify_performance_detail(ref, _detail(tmp_path / "g", "Offline", 1000, False))
    assert not invalid.passed and "Invalid results" in invalid.text


def test_test04_passes_unless_much_faster(tmp_path: Path) -> None:
    ref = _summary(tmp_path / "ref", "Offline", "Samples per second: 1000")
    slower = comp.verify_performance_summary(
        ref, _summary(tmp_path / "a", "Offline", "Samples per second: 500")
    )
    assert slower.passed and "reference score = 1000.0" in slower.text
    faster = comp.verify_performance_summary(
        ref, _summary(tmp_path / "b", "Offline", "Samples per second: 1200")
    )
    assert not faster.passed
    assert (
        "(Offline test 1,200.000 vs reference 1,000.000 samples/s, +20.0%; allowed: under +10%"
        in (faster.line())
    )
    # SingleStream: scores are 1e9 / early-stopping latency
    line = " * Early stopping 90.0th percentile estimate: {}"
    ss_ref = _summary(tmp_path / "c", "SingleStream", line.format(1000000))
    ss = comp.verify_performance_summary(
        ss_ref, _summary(tmp_path / "d", "SingleStream", line.format(1000000))
    )
    assert ss.passed and "reference score = 1000.0" in ss.text


def _acc_log(path: Path, entries: list[tuple[int, int]]) -> Path:
    recs = [
        {"seq_id": i, "qsl_idx": idx, "data": int(v).to_bytes(4, "little").hex().upper()}
        for i, (idx, v) in enumerate(entries)
    ]
    path.write_text(json.dumps(recs))
    return path


def test_test01_accuracy_comparison_and_fallback(tmp_path: Path) -> None:
    ref = _acc_log(tmp_path / "acc.json", [(0, 1), (1, 2), (2, 3), (3, 4)])
    same = _acc_log(tmp_path / "same.json", [(2, 3), (0, 1)])
    ok = comp.verify_accuracy(ref, same, "int32")
    assert ok.passed and "num_perf_log_qsl_idx_match = 2" in ok.text
    assert "num_perf_log_data_mismatch = 0" in ok.text
    differ = _acc_log(tmp_path / "differ.json", [(2, 9), (0, 1)])
    bad = comp.verify_accuracy(ref, differ, "int32")
    assert not bad.passed and "num_perf_log_data_mismatch = 1" in bad.text
    # fallback: both subsets scored with the accuracy script; 1 of 2 vs 2 of 2 -> fails
    labels = __import__("numpy").array([1, 2, 3, 4])
    passed, base, compl = comp.accuracy_fallback(ref, differ, labels, "int32", tmp_path)
    assert (passed, base, compl) == (False, 100.0, 50.0)
    assert (tmp_path / "baseline_accuracy.txt").read_text().startswith("accuracy=100.000%")
    assert (tmp_path / "compliance_accuracy.txt").read_text().startswith("accuracy=50.000%")


def test_place_lays_out_the_official_folders(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _detail(run, "Offline", 10.0)
    _summary(run, "Offline", "Samples per second: 10")
    (run / "mlperf_log_accuracy.json").write_text("[]")
    (run / "verify_accuracy.txt").write_text("TEST PASS\n")
    (run / "verify_performance.txt").write_text("TEST PASS\n")
    target = comp.place("TEST01", run, tmp_path / "Offline")
    for rel in (
        "verify_accuracy.txt",
        "verify_performance.txt",
        "accuracy/mlperf_log_accuracy.json",
        "performance/run_1/mlperf_log_detail.txt",
        "performance/run_1/mlperf_log_summary.txt",
    ):
        assert (target / rel).is_file(), rel


@pytest.mark.slow
def test_cli_test01_runs_with_audit_config_in_its_own_run_dir(
    tmp_path: Path, digits_model: Path
) -> None:
    ws = str(tmp_path / "ws")
    base = ["--workspace", ws]
    missing = run_cli(*base, "compliance", "run", "TEST01", "--scenario", "Offline")
    assert missing.returncode == 2 and "no passing Offline performance run" in missing.stderr
    first = run_cli(*base, "run", "--scenario", "Offline", "--mode", "both", "--json")
    assert first.returncode == 0, first.stderr
    ref_dirs = [Path(r["run_dir"]) for r in json.loads(first.stdout)]
    proc = run_cli(
        *base,
        "compliance",
        "run",
        "TEST01",
        "--scenario",
        "Offline",
        "--into",
        str(tmp_path / "placed"),
        "--json",
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: performance outside tolerance (noise)
    out = json.loads(proc.stdout)
    assert "TEST PASS" in out["verify"]["verify_accuracy.txt"]  # same model, same answers
    assert out["verify"]["verify_performance.txt"].startswith("Verifying performance.\n")
    run_dir = Path(ws) / "runs" / out["run_id"]
    assert "accuracy_log_sampling_target = 4096" in (run_dir / "audit.config").read_text()
    assert all(not (d / "audit.config").exists() for d in ref_dirs)
    detail = (run_dir / "mlperf_log_detail.txt").read_text()
    assert '"effective_accuracy_log_sampling_target", "value": 4096' in detail
    record = json.loads((run_dir / "run.json").read_text())
    assert record["tags"]["compliance"] == "TEST01"
    assert (tmp_path / "placed" / "TEST01" / "accuracy" / "mlperf_log_accuracy.json").is_file()
