"""perfpilot submission check: the official v4.1 fixture passes with the official figures,
and each broken copy of it gives the expected finding and fix."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from perfpilot.errors import UsageError
from perfpilot.submission import rounds
from perfpilot.submission.check import FIXES, check_tree, read_csv_rows
from tests.conftest import FIXTURE, needs_fixture, run_cli

pytestmark = needs_fixture

SUB = Path("closed/Intel")
SYS = "1-node-2S-EMR-PyTorch"
RES = SUB / "results" / SYS / "resnet50"


def copy_tree(dst: Path) -> Path:
    """A writable copy of the fixture (the shared one is read-only)."""
    shutil.copytree(FIXTURE, dst, symlinks=True)
    for dirpath, dirnames, filenames in os.walk(dst):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    dst.chmod(dst.stat().st_mode | stat.S_IWUSR)
    return dst


def set_detail(path: Path, key: str, value: object) -> None:
    """Change the value of one MLLOG key in a detail log."""
    text = path.read_text()
    pattern = re.compile(r'("key": "' + re.escape(key) + r'", "value": )([^,]*)')
    new, n = pattern.subn(lambda m: m.group(1) + json.dumps(value), text)
    assert n, f"{key} not in {path}"
    path.write_text(new)


def official_csv() -> list[dict[str, str]]:
    text = (FIXTURE / "FIXTURE.md").read_text()
    block = text.split("```csv\n", 1)[1].split("```", 1)[0]
    return read_csv_rows(block)


def test_fixture_passes_with_official_figures() -> None:
    report = check_tree(FIXTURE, "v4.1")
    assert report.ok, [f.line() for f in report.errors]
    by_scen = {r.scenario: r for r in report.results}
    assert by_scen["Offline"].result == pytest.approx(25204.5)
    assert by_scen["Server"].result == pytest.approx(22501.8)
    assert by_scen["Offline"].accuracy == by_scen["Server"].accuracy == "75.730"
    assert all(r.passed for r in report.results)
    assert report.summary_line() == "SUMMARY: submission looks OK"


def test_csv_rows_equal_the_official_ones(tmp_path: Path) -> None:
    ours = {r["Scenario"]: r for r in read_csv_rows(check_tree(FIXTURE, "v4.1").csv_text())}
    theirs = {r["Scenario"]: r for r in official_csv()}
    assert set(ours) == set(theirs) == {"Offline", "Server"}
    for scen, row in theirs.items():
        assert ours[scen] == row, scen
    header = check_tree(FIXTURE, "v4.1").csv_text().splitlines()[0]
    official_header = (FIXTURE / "FIXTURE.md").read_text().split("```csv\n")[1].splitlines()[0]
    assert header == official_header


def test_round_detected_from_seeds() -> None:
    report = check_tree(FIXTURE)
    assert (report.round, report.round_source) == ("v4.1", "seeds")
    assert report.ok


def test_wrong_round_fails_on_seeds() -> None:
    report = check_tree(FIXTURE, "v5.0")
    assert not report.ok
    assert "perf-seeds" in {f.rule for f in report.errors}


def test_cli_check_fixture(tmp_path: Path) -> None:
    out = tmp_path / "summary.csv"
    proc = run_cli("submission", "check", str(FIXTURE), "--round", "v4.1", "--csv", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUMMARY: submission looks OK" in proc.stdout
    assert "25204.5" in proc.stdout and "22501.8" in proc.stdout and "75.730" in proc.stdout
    rows = read_csv_rows(out.read_text())
    assert sorted(r["Result"] for r in rows) == ["22501.8", "25204.5"]


def test_cli_unknown_round_is_usage_error() -> None:
    proc = run_cli("submission", "check", str(FIXTURE), "--round", "v3.0")
    assert proc.returncode == 2
    assert "unknown MLPerf Inference round 'v3.0'" in proc.stderr
    assert "Traceback" not in proc.stderr


def _missing_file(t: Path) -> None:
    (t / RES / "Offline/performance/run_1/mlperf_log_summary.txt").unlink()


def _wrong_seeds(t: Path) -> None:
    set_detail(
        t / RES / "Offline/performance/run_1/mlperf_log_detail.txt", "effective_qsl_rng_seed", 42
    )


def _invalid(t: Path) -> None:
    set_detail(
        t / RES / "Server/performance/run_1/mlperf_log_detail.txt", "result_validity", "INVALID"
    )


def _accuracy_low(t: Path) -> None:
    p = t / RES / "Offline/accuracy/accuracy.txt"
    p.write_text(p.read_text().replace("accuracy=75.730%", "accuracy=75.100%"))


def _untruncated(t: Path) -> None:
    line = '{ "seq_id" : 0, "qsl_idx" : 1, "data" : "D8000000" },\n'
    (t / RES / "Offline/accuracy/mlperf_log_accuracy.json").write_text("[\n" + line * 400 + "]\n")


def _bad_hash(t: Path) -> None:
    p = t / RES / "Server/accuracy/accuracy.txt"
    p.write_text(re.sub(r"hash=\w+", "hash=not-a-sha256", p.read_text()))


def _no_hash(t: Path) -> None:
    p = t / RES / "Server/accuracy/accuracy.txt"
    p.write_text(re.sub(r"hash=\w+\n?", "", p.read_text()))


def _system_field(t: Path) -> None:
    p = t / SUB / "systems" / f"{SYS}.json"
    data = json.loads(p.read_text())
    del data["host_memory_capacity"]
    p.write_text(json.dumps(data))


def _system_zero(t: Path) -> None:
    p = t / SUB / "systems" / f"{SYS}.json"
    data = json.loads(p.read_text())
    data["accelerators_per_node"] = 0  # the fixture has "0": the official checker reads 0 as empty
    p.write_text(json.dumps(data))


def _missing_scenario(t: Path) -> None:
    for top in ("results", "measurements", "compliance"):
        shutil.rmtree(t / SUB / top / SYS / "resnet50" / "Server")


def _stray_file(t: Path) -> None:
    (t / RES / "Offline/performance/run_1/notes.txt").write_text("x")


def _root_file(t: Path) -> None:
    (t / "summary.csv").write_text("x")


def _short(t: Path) -> None:
    set_detail(
        t / RES / "Offline/performance/run_1/mlperf_log_detail.txt",
        "effective_min_duration_ms",
        60000,
    )


def _latency(t: Path) -> None:
    set_detail(
        t / RES / "Server/performance/run_1/mlperf_log_detail.txt",
        "effective_target_latency_ns",
        20000000,
    )


def _symlink_outside(t: Path) -> None:
    outside = t.parent / "outside.txt"
    outside.write_text("secret")
    target = t / RES / "Offline/performance/run_1/mlperf_log_summary.txt"
    target.unlink()
    target.symlink_to(outside)


def _standin(t: Path) -> None:
    p = t / SUB / "measurements" / SYS / "resnet50" / "Offline" / f"{SYS}.json"
    data = json.loads(p.read_text())
    data["perfpilot_standin"] = True
    p.write_text(json.dumps(data))


def _compliance_missing(t: Path) -> None:
    shutil.rmtree(t / SUB / "compliance" / SYS / "resnet50" / "Offline" / "TEST04")


def _compliance_failed(t: Path) -> None:
    p = t / SUB / "compliance" / SYS / "resnet50" / "Server" / "TEST01" / "verify_performance.txt"
    p.write_text(p.read_text().replace("TEST PASS", "TEST FAIL"))


def _empty_dir(t: Path) -> None:
    (t / SUB / "code" / "empty").mkdir()


def _hidden(t: Path) -> None:
    (t / SUB / ".DS_Store").write_text("x")


def _measurement_field(t: Path) -> None:
    p = t / SUB / "measurements" / SYS / "resnet50" / "Server" / f"{SYS}.json"
    data = json.loads(p.read_text())
    data["weight_data_types"] = ""
    p.write_text(json.dumps(data))


def _division_mismatch(t: Path) -> None:
    p = t / SUB / "systems" / f"{SYS}.json"
    p.write_text(p.read_text().replace('"division": "closed"', '"division": "open"'))


BREAKS: list[tuple[Callable[[Path], None], str, str]] = [
    (_missing_file, "missing-file", "Offline/performance/run_1/mlperf_log_summary.txt"),
    (_wrong_seeds, "perf-seeds", "Offline/performance/run_1/mlperf_log_detail.txt"),
    (_invalid, "perf-invalid", "Server/performance/run_1/mlperf_log_detail.txt"),
    (_accuracy_low, "accuracy-below-target", "Offline/accuracy/accuracy.txt"),
    (_untruncated, "accuracy-log-not-truncated", "Offline/accuracy/mlperf_log_accuracy.json"),
    (_bad_hash, "accuracy-hash-bad", "Server/accuracy/accuracy.txt"),
    (_no_hash, "accuracy-hash-missing", "Server/accuracy/accuracy.txt"),
    (_system_field, "system-field-missing", f"systems/{SYS}.json"),
    (_system_zero, "system-field-empty", f"systems/{SYS}.json"),
    (_missing_scenario, "scenario-missing", f"results/{SYS}/resnet50"),
    (_stray_file, "stray-file", "Offline/performance/run_1/notes.txt"),
    (_root_file, "root-stray-file", "summary.csv"),
    (_short, "perf-min-duration", "Offline/performance/run_1/mlperf_log_detail.txt"),
    (_latency, "perf-latency-bound", "Server/performance/run_1/mlperf_log_detail.txt"),
    (_symlink_outside, "symlink-outside", "Offline/performance/run_1/mlperf_log_summary.txt"),
    (_standin, "standin-closed", f"results/{SYS}/resnet50/Offline"),
    (_compliance_missing, "compliance-missing", "Offline/TEST04"),
    (_compliance_failed, "compliance-failed", "Server/TEST01/verify_performance.txt"),
    (_empty_dir, "empty-folder", "code/empty"),
    (_hidden, "hidden-file", ".DS_Store"),
    (_measurement_field, "measurements-field", f"Server/{SYS}.json"),
    (_division_mismatch, "system-mismatch", f"systems/{SYS}.json"),
]


@pytest.mark.parametrize(("brk", "rule", "where"), BREAKS, ids=[b[1] for b in BREAKS])
def test_broken_copy_gives_the_rule_and_its_fix(
    tmp_path: Path, brk: Callable[[Path], None], rule: str, where: str
) -> None:
    tree = copy_tree(tmp_path / "tree")
    brk(tree)
    report = check_tree(tree, "v4.1")
    assert not report.ok
    hits = [f for f in report.errors if f.rule == rule]
    assert hits, f"expected {rule}, got {[f.line() for f in report.findings]}"
    assert any(f.path.endswith(where) for f in hits), [f.path for f in hits]
    assert all(f.fix == FIXES[rule] and f.fix for f in hits)
    assert report.summary_line() == "SUMMARY: submission has errors"


def test_symlink_is_not_followed(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "tree")
    _symlink_outside(tree)
    report = check_tree(tree, "v4.1")
    offline = next(r for r in report.results if r.scenario == "Offline")
    assert not offline.passed
    # the CSV keeps only passing results
    assert [r["Scenario"] for r in read_csv_rows(report.csv_text())] == ["Server"]


def test_cli_broken_tree_exits_1_with_fix(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "tree")
    _latency(tree)
    proc = run_cli("submission", "check", str(tree), "--round", "v4.1")
    assert proc.returncode == 1
    assert "SUMMARY: submission has errors" in proc.stdout
    assert "[perf-latency-bound]" in proc.stdout and FIXES["perf-latency-bound"] in proc.stdout
    data = json.loads(run_cli("submission", "check", str(tree), "--json").stdout)
    assert data["ok"] is False and data["round"] == "v4.1"
    assert "perf-latency-bound" in {f["rule"] for f in data["findings"]}


def _to_open(tree: Path) -> Path:
    (tree / "closed").rename(tree / "open")
    p = tree / "open/Intel/systems" / f"{SYS}.json"
    p.write_text(p.read_text().replace('"division": "closed"', '"division": "open"'))
    return tree / "open/Intel/results" / SYS / "resnet50"


def test_open_division_relaxed_lengths(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "tree")
    res = _to_open(tree)
    set_detail(
        res / "Offline/performance/run_1/mlperf_log_detail.txt", "effective_min_duration_ms", 1000
    )
    strict = check_tree(tree, "v4.1")
    assert "perf-min-duration" in {f.rule for f in strict.errors}
    relaxed = check_tree(tree, "v4.1", relax_lengths=True)
    assert relaxed.ok, [f.line() for f in relaxed.errors]
    assert "perf-min-duration" in {f.rule for f in relaxed.warnings}


def test_open_division_tolerates_accuracy_miss_but_not_seeds(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "tree")
    res = _to_open(tree)
    acc = res / "Offline/accuracy/accuracy.txt"
    acc.write_text(acc.read_text().replace("accuracy=75.730%", "accuracy=10.000%"))
    report = check_tree(tree, "v4.1")
    assert report.ok
    assert "accuracy-below-target" in {f.rule for f in report.warnings}
    set_detail(res / "Offline/performance/run_1/mlperf_log_detail.txt", "effective_qsl_rng_seed", 1)
    assert "perf-seeds" in {f.rule for f in check_tree(tree, "v4.1").errors}


def test_accuracy_subset_fails_v6_in_every_division(tmp_path: Path) -> None:
    # Up to v5.1 the official checker only logged an accuracy run over part of the
    # dataset; its v6.x (modular) checker fails the result, open division included.
    tree = copy_tree(tmp_path / "tree")
    res = _to_open(tree)
    set_detail(res / "Offline/accuracy/mlperf_log_detail.txt", "qsl_reported_total_count", 1024)
    old = check_tree(tree, "v4.1")
    assert "accuracy-dataset-size" in {f.rule for f in old.warnings}
    assert "accuracy-dataset-size" not in {f.rule for f in old.errors}
    tree = to_v6_layout(copy_tree(tmp_path / "v6"))
    res = _to_open(tree)
    set_detail(res / "Offline/accuracy/mlperf_log_detail.txt", "qsl_reported_total_count", 1024)
    new = check_tree(tree, "v6.0")
    hits = [f for f in new.errors if f.rule == "accuracy-dataset-size"]
    assert hits and hits[0].path.endswith("Offline/accuracy/mlperf_log_detail.txt")
    assert "1024 samples" in hits[0].message and "50000" in hits[0].message
    relaxed = check_tree(tree, "v6.0", relax_lengths=True)  # a test-length tree may
    assert "accuracy-dataset-size" in {f.rule for f in relaxed.warnings}
    assert "accuracy-dataset-size" not in {f.rule for f in relaxed.errors}
    # LoadGen 6.0+ logs effective_accuracy_sample_count; the official checker prefers it
    detail = res / "Offline/accuracy/mlperf_log_detail.txt"
    line = next(x for x in detail.read_text().splitlines() if "qsl_reported_total_count" in x)
    extra = line.replace("qsl_reported_total_count", "effective_accuracy_sample_count")
    detail.write_text(detail.read_text() + extra.replace('"value": 1024', '"value": 50000') + "\n")
    assert "accuracy-dataset-size" not in {f.rule for f in check_tree(tree, "v6.0").findings}


def test_rounds_tables() -> None:
    data = json.loads(rounds.RULES_FILE.read_text())
    assert tuple(data["rounds"]) == rounds.ROUNDS
    v41 = rounds.get_round("v4.1")
    assert v41.required_scenarios("resnet50", "datacenter") == ["Server", "Offline"]
    assert v41.required_compliance("resnet") == ["TEST01", "TEST04", "TEST05"]
    v61 = rounds.get_round("6.1")
    assert v61.required_scenarios("resnet", "edge") == ["SingleStream", "MultiStream", "Offline"]
    with pytest.raises(UsageError, match="cannot be submitted on a 'datacenter'"):
        v61.required_scenarios("resnet", "datacenter")
    with pytest.raises(UsageError, match=r"not part of MLPerf Inference v6\.1"):
        v61.model("retinanet")
    assert v61.seeds["qsl_rng_seed"] == 2085463073848966840
    assert v61.layout == "v6" and v41.layout == "v4"
    assert v41.model("resnet").accuracy == [("acc", pytest.approx(75.6954))]
    assert rounds.required_compliance("v6.0", "bert-99") == ["TEST01"]


def test_default_round_matches_installed_loadgen() -> None:
    seeds = rounds.loadgen_builtin_seeds()
    assert seeds is not None
    name = rounds.default_round()
    assert rounds.get_round(name).seeds == seeds
    rounds.require_loadgen_round(name)  # no error for the carried round
    with pytest.raises(UsageError, match=r"does not carry the seeds of round v4\.1"):
        rounds.require_loadgen_round("v4.1")


def to_v6_layout(tree: Path) -> Path:
    """Rearrange the v4.1 fixture copy into the v6.x layout (measurements and TEST0x
    folders inside the scenario folder, src/ for code)."""
    sub = tree / SUB
    for scen in ("Offline", "Server"):
        dst = sub / "results" / SYS / "resnet50" / scen
        meas = sub / "measurements" / SYS / "resnet50" / scen
        for item in meas.iterdir():
            name = "measurements.json" if item.name == f"{SYS}.json" else item.name
            item.rename(dst / name)
        for test in (sub / "compliance" / SYS / "resnet50" / scen).iterdir():
            test.rename(dst / test.name)
    shutil.rmtree(sub / "measurements")
    shutil.rmtree(sub / "compliance")
    (sub / "code").rename(sub / "src")
    return tree


def test_v6_layout_is_read(tmp_path: Path) -> None:
    from perfpilot.submission.tree import read_tree

    tree = to_v6_layout(copy_tree(tmp_path / "tree"))
    entries = {e.scenario: e for e in read_tree(tree).entries}
    assert set(entries) == {"Offline", "Server"}
    off = entries["Offline"]
    assert off.layout == "v6"
    assert off.measurements_path is not None and off.measurements_path.name == "measurements.json"
    assert off.measurements is not None and off.measurements["weight_data_types"]
    assert sorted(off.compliance) == ["TEST01", "TEST04", "TEST05"]
    assert off.performance is not None and off.performance.metric == pytest.approx(25204.5)
    assert off.accuracy is not None and off.accuracy.values == {"acc": "75.730"}
    # v6.0 rules: the paths resolve; what fails is the round's own rules
    rules = {f.rule for f in check_tree(tree, "v6.0").errors}
    assert {"perf-seeds", "category-not-allowed", "calibration-missing"} <= rules
    assert not rules & {"layout-mismatch", "measurements-missing", "compliance-missing"}
    assert not rules & {"missing-file", "code-missing", "measurements-file-missing"}
    # and a v4.1 check says the layout is not that round's
    assert "layout-mismatch" in {f.rule for f in check_tree(tree, "v4.1").errors}


def test_tree_reader_reports_instead_of_crashing(tmp_path: Path) -> None:
    from perfpilot.submission.tree import read_tree

    tree = copy_tree(tmp_path / "tree")
    detail = tree / RES / "Offline/performance/run_1/mlperf_log_detail.txt"
    lines = detail.read_text().splitlines()
    lines.insert(3, ":::MLLOG {not json")
    detail.write_text("\n".join(lines) + "\n")
    (tree / SUB / "systems" / f"{SYS}.json").write_text("{broken")
    entries = {e.scenario: e for e in read_tree(tree).entries}
    assert entries["Offline"].performance is None
    assert any("cannot be read" in p for p in entries["Offline"].problems)
    assert entries["Offline"].system_json is None
    report = check_tree(tree, "v4.1")
    assert {"perf-unreadable", "system-json-invalid"} <= {f.rule for f in report.errors}


def _open_tree_from_runs(root: Path, acc_run: Path, perf_run: Path) -> Path:
    """A one-result open-division v6.x tree made of two real perfpilot runs."""
    sub = root / "open" / "perfpilot"
    system = json.loads((FIXTURE / SUB / "systems" / f"{SYS}.json").read_text())
    system.update(division="open", submitter="perfpilot", system_name="box", system_type="edge")
    (sub / "systems").mkdir(parents=True)
    (sub / "systems" / "box.json").write_text(json.dumps(system))
    (sub / "src").mkdir()
    (sub / "src" / "README.md").write_text("perfpilot run --model digits-cnn\n")
    scen = sub / "results" / "box" / "digits-cnn" / "Offline"
    (scen / "accuracy").mkdir(parents=True)
    (scen / "performance" / "run_1").mkdir(parents=True)
    for name in REQUIRED_ACC:
        shutil.copy(acc_run / name, scen / "accuracy" / name)
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json"):
        shutil.copy(perf_run / name, scen / "performance" / "run_1" / name)
    shutil.copy(perf_run / "user.conf", scen / "user.conf")
    (scen / "README.md").write_text("perfpilot run --model digits-cnn --scenario Offline\n")
    fields = ("input_data_types", "retraining", "starting_weights_filename")
    meas = dict.fromkeys(fields, "fp32") | {
        "weight_data_types": "fp32",
        "weight_transformations": "none",
    }
    (scen / "measurements.json").write_text(json.dumps(meas))
    return root


REQUIRED_ACC = (
    "accuracy.txt",
    "mlperf_log_accuracy.json",
    "mlperf_log_detail.txt",
    "mlperf_log_summary.txt",
)


@pytest.mark.slow
def test_real_loadgen_runs_truncate_check_package(tmp_path: Path, digits_model: Path) -> None:
    from perfpilot.submission.package import package_tree
    from perfpilot.submission.truncate import truncate_tree

    ws = tmp_path / "ws"
    proc = run_cli(
        "--workspace", str(ws), "run", "--scenario", "Offline", "--mode", "both",
        "--min-duration", "0.2", "--count", "64", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    runs = {r["config"]["mode"]: Path(r["run_dir"]) for r in json.loads(proc.stdout)}
    tree = _open_tree_from_runs(tmp_path / "sub", runs["accuracy"], runs["performance"])
    first = check_tree(tree)
    assert first.round == rounds.default_round() and first.round_source == "seeds"
    assert {"accuracy-hash-missing", "perf-min-duration"} <= {f.rule for f in first.errors}
    assert truncate_tree(tree).truncated
    strict = check_tree(tree)
    assert {f.rule for f in strict.errors} == {"perf-min-duration"}
    relaxed = check_tree(tree, relax_lengths=True)
    assert relaxed.ok, [f.line() for f in relaxed.errors]
    row = relaxed.results[0]
    assert row.passed and row.result is not None and row.result > 0
    assert float(row.accuracy) > 90  # digits-cnn top-1 in percent
    result = package_tree(tree, relax_lengths=True)
    assert result.archive.is_file()


@pytest.mark.parametrize(
    ("line", "metric", "value"),
    [
        ("accuracy=76.456%, good=38228, total=50000", "acc", "76.456"),
        ('{"exact_match": 83.123, "f1": 90.874}', "F1", "90.874"),
        ("mAP=37.552%", "mAP", "37.552"),
        ("Accuracy: mean = 0.86170, kidney = 0.9347, tumor = 0.7887", "DICE", "0.86170"),
        ("AUC=80.310%, accuracy=79.100%, good=1, total=2, queries=3", "AUC", "80.310"),
    ],
)
def test_accuracy_formats(tmp_path: Path, line: str, metric: str, value: str) -> None:
    from perfpilot.submission.tree import read_accuracy_txt

    path = tmp_path / "accuracy.txt"
    path.write_text(f"{line}\n\nhash={'a' * 64}\n")
    acc = read_accuracy_txt(path)
    assert acc.values[metric] == value
    assert acc.hash == "a" * 64
    if metric != "acc":
        assert "acc" not in acc.values


def test_run_record_marks_standin(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "tree")
    record = {"run_id": "x", "standin": True}
    (tree / RES / "Server" / "run.json").write_text(json.dumps(record))
    report = check_tree(tree, "v4.1")
    hits = [f for f in report.errors if f.rule == "standin-closed"]
    assert [f.path for f in hits] == [f"{RES.as_posix()}/Server"]
