"""perfpilot's checker and importer on MLPerf Endpoints results (v6.1): the Server result
of the hand-made llama3.1-8b tree of test_submission_llm is rewritten as the files the
mlcommons/endpoints tool writes and the official v6.1 checker reads (config.yaml in the
scenario folder, performance/result_summary.json, accuracy/accuracy_results.json), with
its field names (early-stopping percentile maps keyed "99.0", tps, qps, n_samples_*,
settings.runtime.*). Made here: no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from perfpilot.submission import rounds
from perfpilot.submission.check import check_tree, read_csv_rows
from tests.test_submission_llm import MODEL_DIR, ROUND, make_tree

TPS = 1234.5
QPS = 3.25


def _series(p50: float, p99: float) -> dict[str, Any]:
    grid = {"50.0": p50, "90.0": p99 * 0.9, "99.0": p99, "99.9": None}
    return {"avg": p50, "percentiles": dict(grid), "early_stopping_percentiles": grid}


def summary(ttft_ms: float = 1500, tpot_ms: float = 80) -> dict[str, Any]:
    return {
        "version": "0.4.0",
        "git_sha": "abc1234",
        "test_started_at": "2026-08-01T10:00:00Z",
        "n_samples_issued": 13368,
        "n_samples_completed": 13368,
        "n_samples_failed": 0,
        "duration_ns": 4_113_230_769_230,
        "state": "complete",
        "complete": True,
        "ttft": _series(ttft_ms * 0.5e6, ttft_ms * 1e6),
        "tpot": _series(tpot_ms * 0.5e6, tpot_ms * 1e6),
        "latency": _series(9e9, 15e9),
        "qps": QPS,
        "tps": TPS,
    }


def config(scenario_type: str, seeds: dict[str, int]) -> str:
    return (
        f'name: "llama3.1-8b-cnn"\nversion: "0.4.0"\ntype: "{scenario_type}"\n'
        "model_params:\n  name: meta-llama/Llama-3.1-8B-Instruct\n  streaming: true\n"
        "settings:\n  runtime:\n    min_duration_ms: 600000\n"
        f"    scheduler_random_seed: {seeds['schedule_rng_seed']}\n"
        f"    dataloader_random_seed: {seeds['sample_index_rng_seed']}\n"
        "  load_pattern:\n    type: poisson\n    target_qps: 3.3\n"
    )


ACCURACY = {
    "accuracy_scores": [
        {
            "dataset_name": "cnn_dailymail",
            "dataset_type": "accuracy",
            "total_samples": 13368,
            "score": {"rouge1": 38.91, "rouge2": 16.02, "rougeL": 24.61},
        }
    ]
}


def to_endpoints(folder: Path, scenario_type: str, **perf: float) -> None:
    """Replace the LoadGen runs of a scenario folder with an Endpoints run's files."""
    shutil.rmtree(folder / "performance")
    shutil.rmtree(folder / "accuracy")
    (folder / "user.conf").unlink()
    (folder / "performance").mkdir()
    (folder / "accuracy").mkdir()
    (folder / "performance" / "result_summary.json").write_text(json.dumps(summary(**perf)))
    (folder / "accuracy" / "accuracy_results.json").write_text(json.dumps(ACCURACY))
    (folder / "config.yaml").write_text(config(scenario_type, rounds.get_round(ROUND).seeds))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = make_tree(tmp_path / "tree")
    to_endpoints(root / MODEL_DIR / "Server", "online")
    return root


def _row(report: Any, scenario: str) -> Any:
    return next(r for r in report.results if r.scenario == scenario)


def _lines(report: Any, rule: str) -> list[str]:
    return [f.line() for f in report.findings if f.rule == rule]


def test_endpoints_server_result_passes(tree: Path) -> None:
    report = check_tree(tree, ROUND, relax_lengths=True)
    assert report.ok, [f.line() for f in report.errors]
    assert not [f for f in report.findings if "/Server" in f.path]
    server = _row(report, "Server")
    assert server.passed and server.result == TPS and server.units == "Tokens/s"
    csv = {r["Scenario"]: r for r in read_csv_rows(report.csv_text())}
    assert csv["Server"]["Result"] == repr(TPS)
    # as the official checker: config.yaml's "online" is not "Server", so "inferred"
    assert csv["Server"]["inferred"] == "1"
    assert csv["Server"]["Accuracy"].startswith("rouge1: 38.91  rouge2: 16.02")


def test_ttft_over_server_bound(tree: Path) -> None:
    summary_path = tree / MODEL_DIR / "Server" / "performance" / "result_summary.json"
    summary_path.write_text(json.dumps(summary(ttft_ms=2500)))
    report = check_tree(tree, ROUND, relax_lengths=True)
    lines = _lines(report, "perf-token-latency")
    assert len(lines) == 1 and "\n" not in lines[0] and lines[0].startswith("ERROR")
    assert "Server/performance/result_summary.json" in lines[0]
    assert "Server p99 TTFT 2500 ms is not under the bound 2000 ms" in lines[0]
    assert not _row(report, "Server").passed and _row(report, "Offline").passed


def test_missing_result_summary(tree: Path) -> None:
    (tree / MODEL_DIR / "Server" / "performance" / "result_summary.json").unlink()
    report = check_tree(tree, ROUND, relax_lengths=True)
    lines = _lines(report, "endpoints-file-missing")
    assert len(lines) == 1 and "result_summary.json of the Endpoints run is missing" in lines[0]
    server = _row(report, "Server")
    assert not server.passed and server.result is None


def test_what_the_official_checker_reports_elsewhere(tree: Path) -> None:
    """Interactive reports samples/s (the checker names no tokens key there); Offline
    has none (it reads result_tokens_per_second, which Endpoints does not write); seeds
    and a failed sample are checked; the open division's test-length rules relax."""
    model = tree / MODEL_DIR
    to_endpoints(model / "Interactive", "online", ttft_ms=400, tpot_ms=20)
    to_endpoints(model / "Offline", "offline")
    conf = model / "Server" / "config.yaml"
    conf.write_text(conf.read_text().replace("scheduler_random_seed: ", "scheduler_random_seed: 1"))
    report = check_tree(tree, ROUND, relax_lengths=True)
    assert _row(report, "Interactive").result == QPS and _row(report, "Interactive").passed
    figure = _lines(report, "perf-endpoints-figure")
    assert len(figure) == 1 and "no result_tokens_per_second for Offline" in figure[0]
    seeds = _lines(report, "perf-seeds")
    assert len(seeds) == 1 and "Server/config.yaml: schedule_rng_seed is 1" in seeds[0]


def test_importer_stores_endpoints_figures(tree: Path, tmp_path: Path) -> None:
    from perfpilot.results.db import ResultsDB
    from perfpilot.results.published import import_tree

    with ResultsDB.open(tmp_path / "results.db") as db:
        ids = import_tree(db, tree / "open", ROUND)
        rows = {db.get(i)["scenario"]: db.get(i) for i in ids}
    server = rows["Server"]
    assert server["metric"] == "tokens_per_second" and server["value"] == TPS
    assert server["ttft_p99_ms"] == 1500 and server["tpot_p99_ms"] == 80
    prov = server["provenance"]
    assert prov["endpoints"] is True and prov["units"] == "Tokens/s"
    assert prov["log_scenario"] == "online" and prov["samples_per_second"] == QPS
    assert prov["checker_figure"] == TPS
    assert "endpoints" not in rows["Offline"]["provenance"]  # the LoadGen results beside it


def test_importer_stores_tokens_per_second_of_interactive(tree: Path, tmp_path: Path) -> None:
    from perfpilot.results.db import ResultsDB
    from perfpilot.results.published import import_tree

    to_endpoints(tree / MODEL_DIR / "Interactive", "online", ttft_ms=400, tpot_ms=20)
    with ResultsDB.open(tmp_path / "results.db") as db:
        ids = import_tree(db, tree / "open", ROUND)
        inter = next(db.get(i) for i in ids if db.get(i)["scenario"] == "Interactive")
    assert inter["metric"] == "tokens_per_second" and inter["value"] == TPS
    assert inter["provenance"]["checker_figure"] == QPS  # what the official summary shows
