"""End to end at test length: plan -> run -> compliance -> generate -> truncate -> check ->
package for digits-cnn (open division, mapped to resnet) on onnxruntime, edge scenarios;
and the bad inputs of generate."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SYSTEM_YAML, run_cli

pytestmark = pytest.mark.slow

# Every edge scenario with its accuracy and performance runs; the compliance tests for
# Offline (the suite's time budget; the other scenarios' tests run the same code).
ONLY = [
    "SingleStream/accuracy",
    "SingleStream/performance",
    "MultiStream/accuracy",
    "MultiStream/performance",
    "Offline",
]


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory, digits_model: Path) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("flow")
    ws = base / "ws"
    common = ["--workspace", str(ws)]
    plan = run_cli(
        *common,
        "submission",
        "plan",
        "--model",
        "digits-cnn",
        "--division",
        "open",
        "--category",
        "edge",
        "--execution",
        "test",
        "--json",
    )
    assert plan.returncode == 0, plan.stderr
    run = run_cli(
        *common,
        "submission",
        "run",
        "--model",
        "digits-cnn",
        "--division",
        "open",
        "--category",
        "edge",
        "--execution",
        "test",
        "--name",
        "flow",
        "--json",
        *[f"--only={o}" for o in ONLY],
    )
    assert run.stdout, run.stderr
    # a log of the campaign: each item timed, each test with its expected duration
    assert re.search(r"^\d\d:\d\d:\d\d Offline/accuracy: run$", run.stderr, re.M), run.stderr
    # (a test-length accuracy pass can end before its expected duration is read: not asserted)
    told = re.findall(
        r"^Offline performance( TEST0[14])?: performance test: expected to take about \d+s in all",
        run.stderr,
        re.M,
    )
    # the performance run, TEST01 and TEST04 (a compliance run that misses on noise runs
    # again, up to TEST_COMPLIANCE_ATTEMPTS times in all)
    assert {"", " TEST01", " TEST04"} <= set(told) and len(told) <= 7, run.stderr
    yml = base / "system.yaml"
    yml.write_text(SYSTEM_YAML)
    sys_json = base / "ci-box.json"
    desc = run_cli(
        "system", "describe", "--from", str(yml), "--category", "edge", "--out", str(sys_json)
    )
    assert desc.returncode == 0, desc.stderr
    return {
        "base": base,
        "common": common,
        "plan": json.loads(plan.stdout),
        "run": json.loads(run.stdout),
        "run_rc": run.returncode,
        "system_json": sys_json,
    }


def test_whole_flow_produces_a_tree_the_checker_accepts(flow: dict[str, Any]) -> None:
    runs = {r["item"]: r for r in flow["run"]["runs"]}
    assert len(runs) == 8
    for item, r in runs.items():  # accuracy/performance pass; compliance may miss on noise
        if "TEST" not in item:
            assert r["passed"], (item, r)
        elif not r["passed"] or r["warning"]:  # a miss says its figures, not only the file
            assert re.search(r"test [\d,.]+ vs reference [\d,.]+ \S+, [+-][\d.]+%", r["note"])
    # open division: a compliance test that misses on performance is a warning (the
    # official checker skips compliance there), so the documented flow exits 0
    assert all(r["passed"] for r in runs.values()) and flow["run_rc"] == 0, runs
    out = flow["base"] / "tree"
    gen = run_cli(
        *flow["common"],
        "submission",
        "generate",
        "--out",
        str(out),
        "--submitter",
        "Perfpilot",
        "--system-json",
        str(flow["system_json"]),
        "--campaign",
        "flow",
    )
    assert gen.returncode == 0, gen.stderr
    sub = out / "open" / "Perfpilot"
    res = sub / "results" / "ci-box" / "digits-cnn"
    assert json.loads((sub / "model_mapping.json").read_text()) == {"digits-cnn": "resnet"}
    assert (sub / "src" / "digits-cnn" / "README.md").is_file()
    system = json.loads((sub / "systems" / "ci-box.json").read_text())
    assert (system["division"], system["submitter"]) == ("open", "Perfpilot")
    for scen in ("SingleStream", "MultiStream", "Offline"):
        for rel in (
            "measurements.json",
            "user.conf",
            "README.md",
            "accuracy/accuracy.txt",
            "performance/run_1/mlperf_log_detail.txt",
        ):
            assert (res / scen / rel).is_file(), (scen, rel)
        assert "perfpilot run --model digits-cnn" in (res / scen / "README.md").read_text()
    t01 = res / "Offline" / "TEST01"
    assert "TEST PASS" in (t01 / "verify_accuracy.txt").read_text()  # deterministic answers
    perf_lines = (t01 / "verify_performance.txt").read_text().splitlines()
    assert perf_lines[0] == "Verifying performance." and perf_lines[-1].startswith("TEST ")
    assert (
        res / "Offline" / "TEST04" / "performance" / "run_1" / "mlperf_log_summary.txt"
    ).is_file()

    trunc = run_cli("submission", "truncate", str(out))
    assert trunc.returncode == 0, trunc.stderr
    acc_txt = (res / "Offline" / "accuracy" / "accuracy.txt").read_text()
    assert acc_txt.startswith("accuracy=") and "\nhash=" in acc_txt
    assert (t01 / "accuracy" / "accuracy.txt").read_text().startswith("hash=")
    csv = flow["base"] / "summary.csv"
    check = run_cli("submission", "check", str(out), "--relax-lengths", "--csv", str(csv))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUMMARY: submission looks OK" in check.stdout
    # each result as a plain number (the v6.x CSV quotes its values; the lines do not)
    shown = [line for line in check.stdout.splitlines() if line.startswith("OK ")]
    assert len(shown) == 3
    for line in shown:
        assert re.search(r": \d+(\.\d{1,6})? (Latency \(ms\)|Samples/s), accuracy", line), line
    rows = list(__import__("csv").DictReader(csv.open()))
    assert sorted(r["Scenario"] for r in rows if r["Model"] == "digits-cnn") == [
        "MultiStream",
        "Offline",
        "SingleStream",
    ]
    assert {r["MlperfModel"] for r in rows} == {"resnet"}
    # v6.x: the official modular checker's columns and formats
    from perfpilot.submission.check import CSV_COLUMNS_V6

    lines = csv.read_text().splitlines()
    assert lines[0].split(",") == CSV_COLUMNS_V6
    assert all(line.startswith('"') and line.endswith('"') for line in lines[1:])
    for r in rows:
        assert r["Accuracy"].startswith("acc: ") and float(r["Accuracy"][5:]) >= 0
        assert (
            r["Location"] == f"{out}/open/{r['Organization']}/results/{r['Platform']}/"
            f"{r['Model']}/{r['Scenario']}/performance/run_1"
        )
        assert r["total_accelerators"] == "0" and r["compliance"] == "open"
        # v6.0's (modular) official checker leaves design_power_watts empty
        assert r["design_power_watts"] == "" and r["PrivateID"] == ""
    pkg = run_cli(
        "submission",
        "package",
        str(out),
        "--relax-lengths",
        "--out",
        str(flow["base"] / "sub.tar.gz"),
    )
    assert pkg.returncode == 0, pkg.stderr
    assert (flow["base"] / "sub.tar.gz").is_file()


def test_resume_reuses_every_passed_run(flow: dict[str, Any]) -> None:
    again = run_cli(
        *flow["common"],
        "submission",
        "run",
        "--model",
        "digits-cnn",
        "--division",
        "open",
        "--execution",
        "test",
        "--name",
        "flow",
        "--json",
        *[f"--only={o}" for o in ONLY],
    )
    runs = json.loads(again.stdout)["runs"]
    first = {r["item"]: r for r in flow["run"]["runs"]}
    for r in runs:
        if first[r["item"]]["passed"]:
            assert r["reused"] and r["run_id"] == first[r["item"]]["run_id"], r


def _generate(flow: dict[str, Any], out: Path, system_json: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli(
        *flow["common"],
        "submission",
        "generate",
        "--out",
        str(out),
        "--submitter",
        "Perfpilot",
        "--system-json",
        str(system_json),
        "--campaign",
        "flow",
        *extra,
    )


def test_generate_bad_inputs_are_clear_and_lose_nothing(flow: dict[str, Any]) -> None:
    base = flow["base"]
    out = base / "bad-tree"
    # results for a different system
    other = json.loads(flow["system_json"].read_text())
    other["host_processor_model_name"] = "Imaginary CPU 9000"
    other_json = base / "other.json"
    other_json.write_text(json.dumps(other))
    proc = _generate(flow, out, other_json)
    assert proc.returncode == 2 and "Imaginary CPU 9000" in proc.stderr
    assert not (out / "open").exists()
    # wrong round or division for the campaign
    proc = _generate(flow, out, flow["system_json"], "--round", "v5.1")
    assert proc.returncode == 2 and "was run for round" in proc.stderr
    proc = _generate(flow, out, flow["system_json"], "--division", "closed")
    assert proc.returncode == 2 and "open division" in proc.stderr
    # a system JSON of another submitter
    theirs = dict(json.loads(flow["system_json"].read_text()), submitter="Someone")
    theirs_json = base / "theirs.json"
    theirs_json.write_text(json.dumps(theirs))
    proc = _generate(flow, out, theirs_json)
    assert proc.returncode == 2 and "submitter 'Someone'" in proc.stderr
    # never overwrites an existing tree
    assert _generate(flow, out, flow["system_json"]).returncode == 0
    marker = out / "open" / "Perfpilot" / "systems" / "ci-box.json"
    before = marker.read_text()
    proc = _generate(flow, out, flow["system_json"])
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert marker.read_text() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".perfpilot-generate")]
    shutil.rmtree(out)


def _campaign(flow: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The flow campaign's plan and its latest runs, as generate takes them."""
    from perfpilot.submission.campaign import load_campaign_plan, load_campaign_runs
    from perfpilot.workspace import Workspace

    ws = Workspace(Path(flow["common"][1]))
    return load_campaign_plan(ws, "flow"), load_campaign_runs(ws, "flow")


def test_closed_generation_needs_valid_runs_and_a_complete_system(
    flow: dict[str, Any], tmp_path: Path
) -> None:
    from perfpilot.errors import UsageError
    from perfpilot.submission import generate as gen

    plan, runs = _campaign(flow)
    closed = dict(plan, division="closed", reference=True)
    with pytest.raises(UsageError, match="'test' execution mode"):
        gen.generate(tmp_path / "t", "Perfpilot", flow["system_json"], closed, runs, "flow")
    sparse = tmp_path / "sparse.json"
    sparse.write_text(json.dumps({"host_processor_model_name": ""}))
    with pytest.raises(UsageError, match="lacks required field"):
        gen.generate(
            tmp_path / "t", "Perfpilot", sparse, dict(closed, execution="valid"), runs, "flow"
        )
    assert not (tmp_path / "t" / "closed").exists()


def test_older_rounds_get_the_v4_layout(flow: dict[str, Any], tmp_path: Path) -> None:
    from perfpilot.submission import generate as gen
    from perfpilot.submission.tree import read_tree

    plan, runs = _campaign(flow)
    plan = dict(plan, round="v5.1")
    out = tmp_path / "v4"
    gen.generate(out, "Perfpilot", flow["system_json"], plan, runs, "flow")
    sub = out / "open" / "Perfpilot"
    assert (sub / "code" / "digits-cnn" / "README.md").is_file()
    assert (sub / "measurements" / "ci-box" / "digits-cnn" / "Offline" / "ci-box.json").is_file()
    assert (sub / "compliance" / "ci-box" / "digits-cnn" / "Offline" / "TEST01").is_dir()
    entries = {e.scenario: e for e in read_tree(out).entries}
    assert set(entries) == {"SingleStream", "MultiStream", "Offline"}
    offline = entries["Offline"]
    assert offline.layout == "v4" and offline.measurements is not None
    assert set(offline.compliance) == {"TEST01", "TEST04"}


def test_generate_names_a_compliance_test_that_did_not_pass(
    flow: dict[str, Any], tmp_path: Path
) -> None:
    from perfpilot.errors import UsageError
    from perfpilot.submission import generate as gen

    plan, runs = _campaign(flow)
    # a copy of the Offline TEST01 run whose performance verification failed
    failed_dir = tmp_path / "test01-run"
    shutil.copytree(runs["Offline/TEST01"].run_dir, failed_dir)
    (failed_dir / "verify_performance.txt").write_text(
        "Verifying performance.\nreference score = 100.0\ntest score = 50.0\n"
        "TEST FAIL: Test score invalid\n"
    )
    runs["Offline/TEST01"] = runs["Offline/TEST01"].model_copy(update={"run_dir": str(failed_dir)})
    result = gen.generate(tmp_path / "t", "Perfpilot", flow["system_json"], plan, runs, "flow")
    # (the other compliance runs are real ones: they may miss on noise and be named too)
    notes = [n for n in result.notes if n.startswith("Offline TEST01 did not pass")]
    assert len(notes) == 1, result.notes
    assert "verify_performance.txt" in notes[0] and "--only Offline/TEST01" in notes[0]
    placed = tmp_path / "t" / "open" / "Perfpilot" / "results" / "ci-box" / "digits-cnn"
    assert "TEST FAIL" in (placed / "Offline" / "TEST01" / "verify_performance.txt").read_text()
    # closed: refused, naming the test and the run, with nothing written
    offline = [i for i in plan["items"] if i["scenario"] == "Offline"]
    closed = dict(plan, division="closed", reference=True, execution="valid", items=offline)
    with pytest.raises(UsageError, match="Offline TEST01 did not pass") as err:
        gen.generate(tmp_path / "c", "Perfpilot", flow["system_json"], closed, runs, "flow")
    assert runs["Offline/TEST01"].run_id in err.value.message
    assert "--only Offline/TEST01" in err.value.one_line()
    assert not (tmp_path / "c" / "closed").exists()
