"""The submission flow at test length for the Llama 3.1 8B stand-in on the transformers
backend, open division, datacenter: plan -> run (TEST06 included) -> generate -> truncate
-> check. The datacenter LLMs need Offline and one of Server or Interactive: the plan
takes Server."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import SYSTEM_YAML, run_cli

pytestmark = pytest.mark.slow


def test_llm_standin_flow_gives_a_tree_the_checker_accepts(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from perfpilot.tasks.cnndm.dataset import make_synthetic_cnndm

    data = make_synthetic_cnndm(tmp_path / "cnndm", count=6, seed=2).parent
    common = ["--workspace", str(tmp_path / "ws")]
    model = ["--model", "llama3.1-8b-standin", "--category", "datacenter", "--division", "open",
             "--backend", "transformers"]  # fmt: skip
    plan = run_cli(*common, "submission", "plan", *model, "--execution", "test", "--json")
    assert plan.returncode == 0, plan.stderr
    planned = {(i["scenario"], i["kind"]) for i in json.loads(plan.stdout)["items"]}
    kinds = ("accuracy", "performance", "TEST06")
    assert planned == {(s, k) for s in ("Offline", "Server") for k in kinds}

    run = run_cli(
        *common, "submission", "run", *model, "--execution", "test", "--dataset-path", str(data),
        "--backend-option", "max_new_tokens=8", "--name", "llm", "--json",
        timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    runs = {r["item"]: r for r in json.loads(run.stdout)["runs"]}
    assert set(runs) == {f"{s}/{k}" for s, k in planned}
    assert all(r["passed"] for r in runs.values()), runs

    yml = tmp_path / "system.yaml"
    yml.write_text(SYSTEM_YAML)
    sys_json = tmp_path / "ci-box.json"
    desc = run_cli("system", "describe", "--from", str(yml), "--out", str(sys_json),
                   "--backend", "transformers")  # fmt: skip
    assert desc.returncode == 0, desc.stderr
    out = tmp_path / "tree"
    gen = run_cli(
        *common, "submission", "generate", "--out", str(out), "--submitter", "Perfpilot",
        "--system-json", str(sys_json), "--campaign", "llm",
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    res = out / "open" / "Perfpilot" / "results" / "ci-box" / "llama3.1-8b-standin"
    for scen in ("Offline", "Server"):
        conf = (res / scen / "user.conf").read_text()
        assert "llama3_1-8b" in conf
        assert "'rouge1'" in (res / scen / "accuracy" / "accuracy.txt").read_text()
        # TEST06: the logged answers end in at most one EOS and hold the reported count;
        # the first token reported on its own is checked where it is streamed (Server)
        verdict = (res / scen / "TEST06" / "verify_accuracy.txt").read_text()
        first = "Skipped" if scen == "Offline" else "True"
        assert f"First token check pass: {first}" in verdict
        assert "TEST06 verification complete" in verdict

    assert run_cli("submission", "truncate", str(out)).returncode == 0
    summary = tmp_path / "summary.csv"
    check = run_cli("submission", "check", str(out), "--relax-lengths", "--csv", str(summary))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUMMARY: submission looks OK" in check.stdout
    # random weights and 8-token answers: ROUGE and the length gate are warned, not errors
    assert "[accuracy-below-target]" in check.stdout and "[accuracy-length]" in check.stdout
    rows = {r["Scenario"]: r for r in csv.DictReader(summary.open())}
    assert set(rows) == {"Offline", "Server"}
    for row in rows.values():
        assert row["MlperfModel"] == "llama3.1-8b" and row["Units"] == "Tokens/s"
        assert float(row["Result"]) > 0 and row["framework"].startswith("transformers")
