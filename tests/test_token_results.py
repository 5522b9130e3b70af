"""Token benchmarks (LLMs) beyond the run itself: the live progress figures, the results
database and commands, and the dashboard's data; the null backend on synthetic CNN-DM."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from perfpilot.cli.run_cmd import _progress_printer
from perfpilot.dashboard import export
from perfpilot.dashboard.build import build_site
from perfpilot.dashboard.rows import load_rows
from perfpilot.engine.live import LiveStats, LogHistogram, ProgressWriter, TokenMeter, read_progress
from perfpilot.results.compare import compare
from perfpilot.tasks.cnndm.dataset import make_synthetic_cnndm
from perfpilot.tune.pareto import pareto_front
from perfpilot.workspace import Workspace
from tests.conftest import run_cli

TOKENS = 4  # the null backend's answer length here


def test_meter_counts_tokens_and_times_every_nth_query(tmp_path: Path) -> None:
    meter = TokenMeter(latencies=True, every=2)
    seen: list[list[Any]] = []
    issue = meter.wrap_issue(seen.append)
    samples = [SimpleNamespace(id=100 + i, index=i) for i in range(6)]
    for s in samples:
        issue([s])  # LoadGen's Server: one sample per query
    assert len(seen) == 6
    ids = [s.id for s in samples]
    watched = meter.watch(ids)
    assert watched == {100: 0, 102: 2, 104: 4}  # the 1st, 3rd and 5th query
    for sid in ids:
        if watched and sid in watched:
            meter.first_token(sid)
    assert watched is not None
    meter.finished.append([[7] * TOKENS] * 6)
    meter.completed(ids, [[7] * TOKENS] * 6, watched)
    meter.count()
    assert (meter.samples, meter.tokens) == (6, 6 * TOKENS)
    assert len(meter.ttft_ns) == 3 and len(meter.tpot_ns) == 3
    assert meter.watch(ids) is None  # nothing left behind

    path = tmp_path / "progress.json"
    with ProgressWriter(path, 12.5, meter, period_s=60):
        pass  # writes once at its end
    expected, live = read_progress(path)
    assert expected == 12.5 and live is not None
    assert (live.samples, live.tokens) == (6, 6 * TOKENS)
    assert live.ttft_p99_ms is not None and live.tpot_p99_ms is not None
    assert read_progress(tmp_path / "missing.json") == (None, None)


def test_histogram_quantiles_are_within_one_percent() -> None:
    hist = LogHistogram()
    assert hist.quantile(0.99) is None
    hist.add([float(ms) * 1e6 for ms in range(1, 1001)])  # 1 .. 1000 ms
    p99, p50 = hist.quantile(0.99), hist.quantile(0.5)
    assert p99 is not None and p50 is not None
    assert 990e6 <= p99 <= 990e6 * 1.0101 and 500e6 <= p50 <= 500e6 * 1.0101


def test_progress_line_off_a_terminal_shows_the_token_figures() -> None:
    out = io.StringIO()
    show = _progress_printer(Console(file=out, width=200))
    live = LiveStats(elapsed_s=72.0, samples=412, tokens=3_744_000, tokens_per_s=52_000.0,
                     ttft_p99_ms=812.4, tpot_p99_ms=41.2)  # fmt: skip
    show("Server performance: calibrating (about 5s)", 1.0, None, None)
    show("Server performance: performance test", 42.5, 600.0, None)
    show("Server performance: performance test", 72.5, 600.0, live)  # 30 s on
    text = out.getvalue()
    assert "Server performance: calibrating (about 5s) ..." in text
    assert "Server performance: performance test: expected to take about 10m 00s" in text
    assert (
        "Server performance: performance test: 1:12 / ~10:00, ~8:47 left, 412 samples, "
        "52,000 tokens/s, TTFT p99 812 ms, TPOT p99 41 ms"
    ) in text


def test_compare_ranks_a_token_benchmark_by_tokens_per_second() -> None:
    def row(rid: str, metric: str, value: float) -> dict[str, Any]:
        return {"id": rid, "source": "local", "model": "llama3.1-8b", "scenario": "Interactive",
                "metric": metric, "value": value, "valid": True, "started": rid,
                "provenance": {}}  # fmt: skip

    # an old row (indexed as samples/s) first: tokens/s still decides
    (group,) = compare([row("a", "samples_per_second", 9e9), row("b", "tokens_per_second", 10.0),
                        row("c", "tokens_per_second", 20.0)])  # fmt: skip
    assert group.metric == "tokens_per_second" and group.reference == "c"
    ratios = {r["id"]: r["ratio"] for r in group.rows}
    assert ratios == {"c": 1.0, "b": 0.5, "a": None}


@pytest.fixture(scope="module")
def interactive_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One short Interactive run of the null backend: the workspace and its record."""
    root = tmp_path_factory.mktemp("tokens")
    make_synthetic_cnndm(root / "cnn", count=32, seed=5)
    ws = root / "ws"
    out = run_cli(
        "--workspace", str(ws), "run", "--model", "llama3.1-8b-standin", "--backend", "null",
        "--backend-option", f"output_tokens={TOKENS}", "--dataset-path", str(root / "cnn"),
        "--scenario", "Interactive", "--mode", "performance", "--target-qps", "200",
        "--count", "300", "--json",
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr  # 1: INVALID on a busy machine
    (record,) = json.loads(out.stdout)
    assert record["status"] == "ok", record["error"]
    return ws, record


@pytest.mark.slow
def test_progress_file_records_and_results_carry_token_figures(
    interactive_run: tuple[Path, dict[str, Any]],
) -> None:
    ws, record = interactive_run
    res = record["result"]
    # the child's live figures: every sample and token LoadGen counted
    expected, live = read_progress(Path(record["run_dir"]) / "progress.json")
    assert expected is not None and live is not None
    assert live.samples == res["sample_count"] and live.tokens == TOKENS * live.samples
    assert live.tokens_per_s is not None and live.tokens_per_s > 0
    assert live.ttft_p99_ms is not None and live.tpot_p99_ms is not None
    assert live.samples_per_s is not None and live.samples_per_s > 0

    shown = run_cli("--workspace", str(ws), "runs", "show", record["run_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    again = json.loads(shown.stdout)["result"]
    assert again["metric_unit"] == "tokens/s" and again["ttft_ns"]["p99"] > 0
    assert again["tpot_ns"]["p99"] > 0 and again["samples_per_second"] > 0
    text = run_cli("--workspace", str(ws), "runs", "show", record["run_id"]).stdout
    assert "TTFT p99 ms" in text and "tokens: " in text and "samples/s" in text

    listed = run_cli("--workspace", str(ws), "results", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["scenario"] == "Interactive" and row["metric"] == "tokens_per_second"
    assert row["value"] == pytest.approx(res["metric"])
    assert row["ttft_p99_ms"] == pytest.approx(res["ttft_ns"]["p99"] / 1e6)
    assert row["tpot_p99_ms"] == pytest.approx(res["tpot_ns"]["p99"] / 1e6)
    table = run_cli("--workspace", str(ws), "results", "list").stdout
    assert "tokens/s" in table and "TTFT p99 ms" in table


@pytest.mark.slow
def test_dashboard_shows_token_figures_and_interactive(
    interactive_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    ws, record = interactive_run
    rows, sweeps = load_rows(Workspace.resolve(ws))
    data = export.site_data(rows, sweeps, pareto_front, {export.row_key(rows[0]): "r"}, "now")
    (row,) = data["rows"]
    assert row["unit"] == "tokens/s" and row["scenario"] == "Interactive"
    assert row["ttft_p99_ms"] == pytest.approx(record["result"]["ttft_ns"]["p99"] / 1e6)
    assert row["tpot_p99_ms"] is not None
    (chart,) = data["charts"]
    assert (chart["scenario"], chart["unit"], chart["higher_is_better"]) == (
        "Interactive",
        "tokens/s",
        True,
    )
    build_site(rows, sweeps, tmp_path / "site", pareto_front)
    pages = list((tmp_path / "site" / "runs").glob("*.html"))
    page = pages[0].read_text()  # named figures in ms: "TTFT p99", never a bare key
    assert len(pages) == 1 and "TTFT p99" in page and "token throughput" in page
