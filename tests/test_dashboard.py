"""The static dashboard: data export, escaping, links, atomic builds, serving, and the real
site in headless Chromium over real LoadGen runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perfpilot.dashboard import export
from perfpilot.dashboard.build import MARKER, build_site, check_out_dir
from perfpilot.errors import UsageError
from perfpilot.tune.pareto import pareto_front
from tests.conftest import FIXTURE, FIXTURE_RESULTS, default_sigint, run_cli

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
EVIL_TAG = "<script>window.__pwned=1</script>"
EVIL_MODEL = 'digits"cnn<img src=x onerror="window.__pwned=2">'
EVIL_BACKEND = 'onnx<b>runtime</b>"'  # Plotly reads <b> in labels: must show as text


def _row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "r1",
        "source": "local",
        "run_id": "r1",
        "model": "digits-cnn",
        "scenario": "Offline",
        "mode": "performance",
        "backend": "onnxruntime",
        "device": "cpu",
        "system": "host",
        "submitter": None,
        "division": None,
        "round": None,
        "status": "ok",
        "valid": True,
        "metric": "samples_per_second",
        "value": 1000.0,
        "accuracy": None,
        "p90_ms": 2.0,
        "p99_ms": 3.0,
        "standin": False,
        "started": "2026-01-01T00:00:00+0000",
        "tags": {},
        "run_dir": None,
        "config": {"batch_size": 8},
        "provenance": {"software": {"onnxruntime": "1.0"}},
    }
    row.update(over)
    return row


# ---------------------------------------------------------------- data export (unit)


def test_script_json_cannot_close_the_script_element() -> None:
    data = {"tag": "</script><script>alert(1)</script>", "c": "<!-- & \u2028", "q": 'a"b'}
    text = export.script_json(data)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data


def test_page_names_are_safe_unique_and_stable() -> None:
    rows = [
        _row(id="a", run_id="20260101-offline-perf-ab12"),
        _row(id="b", run_id='../../etc/passwd"<x>'),
        _row(id="c", run_id="Same"),
        _row(id="d", run_id="same"),
        _row(id="e", source="published", run_id=None),
    ]
    names = export.page_names(rows)
    stems = [names[export.row_key(r)] for r in rows]
    assert stems[0] == "20260101-offline-perf-ab12"
    assert all(
        set(s) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        for s in stems
    )
    assert not any(s.startswith(".") for s in stems)
    assert len({s.lower() for s in stems}) == len(stems)
    assert export.page_names(rows) == names


def test_verdicts_and_chart_groups() -> None:
    rows = [
        _row(id="a", run_id="a", value=10.0),
        _row(id="b", run_id="b", value=20.0, valid=False),
        _row(id="c", run_id="c", scenario="SingleStream", metric="latency_ms", value=0.5),
        _row(id="d", run_id="d", mode="accuracy", value=None, accuracy=97.5, valid=None),
        _row(id="e", run_id="e", status="failed", value=None, valid=None),
        _row(id="p", source="published", submitter="Intel", system="EMR", round="v4.1", value=30.0),
        _row(id="s", run_id="s", model="resnet50-standin", provenance={"mlperf_model": "resnet50"}),
        _row(id="q", source="published", model="resnet50", submitter="Intel", value=25204.5),
    ]
    data = export.site_data(rows, [], pareto_front, export.page_names(rows), "now")
    assert [r["verdict"] for r in data["rows"]] == [
        "VALID",
        "INVALID",
        "VALID",
        "PASS",  # accuracy runs: against the target (digits-cnn: top-1 97%), not "ACCURACY"
        "FAILED",
        "VALID",
        "VALID",
        "VALID",
    ]
    assert data["counts"] == {"rows": 8, "local": 6, "published": 2}
    assert [r["unit"] for r in data["rows"][1:3]] == ["samples/s", "ms"]
    assert data["rows"][2]["metric_name"] == "early-stopping estimate of the p90 latency"
    assert (data["rows"][3]["accuracy_metric"], data["rows"][3]["accuracy_target"]) == (
        "top-1",
        97.0,
    )
    charts = {(c["model"], c["scenario"], c["unit"]): c for c in data["charts"]}
    assert set(charts) == {
        ("digits-cnn", "Offline", "samples/s"),
        ("digits-cnn", "SingleStream", "ms"),
        ("resnet50", "Offline", "samples/s"),
    }
    offline = charts[("digits-cnn", "Offline", "samples/s")]
    assert offline["higher_is_better"]
    assert not charts[("digits-cnn", "SingleStream", "ms")]["higher_is_better"]
    assert [p["source"] for p in offline["points"]] == ["local", "local", "published"]
    assert offline["points"][-1]["label"] == "Intel EMR v4.1"
    # A stand-in's runs go beside the published results of its benchmark.
    resnet = charts[("resnet50", "Offline", "samples/s")]["points"]
    assert [(p["source"], p["label"]) for p in resnet] == [
        ("local", "onnxruntime on cpu (resnet50-standin)"),  # who ran it, never a run id
        ("published", "Intel host"),
    ]
    assert charts[("digits-cnn", "SingleStream", "ms")]["metric_label"] == "early-stopping p90"


def test_leaderboard_best_valid_result_accuracy_and_published() -> None:
    rows = [
        _row(id="a", run_id="a", value=900.0, started="2026-01-01T00:00:00+0000"),
        _row(id="b", run_id="b", value=1200.0, backend="openvino", started="2026-01-02T0"),
        _row(id="x", run_id="x", value=5000.0, valid=False),  # INVALID: never the best
        _row(id="n", run_id="n", value=90000.0, backend="null"),  # no inference: never best
        _row(id="acc", run_id="acc", mode="accuracy", value=None, accuracy=96.0, valid=None),
        _row(id="m", run_id="m", scenario="MultiStream", metric="latency_ms", value=7.5),
        _row(id="m0", run_id="m0", scenario="MultiStream", metric="latency_ms", value=0.0),
        _row(id="i", run_id="i", scenario="Server", value=10.0, valid=False),
        _row(
            id="s",
            run_id="s",
            model="resnet50-standin",
            standin=True,
            value=40.0,
            provenance={"mlperf_model": "resnet50"},
        ),
        _row(id="p", source="published", model="resnet50", submitter="Intel", value=4000.0),
        _row(id="q", source="published", model="resnet50", scenario="Server", value=3000.0),
    ]
    data = export.site_data(rows, [], pareto_front, export.page_names(rows), "now")
    board = {(e["model"], e["scenario"]): e for e in data["leaderboard"]}
    assert set(board) == {
        ("digits-cnn", "Offline"),
        ("digits-cnn", "MultiStream"),
        ("digits-cnn", "Server"),
        ("resnet50-standin", "Offline"),
        ("resnet50", "Server"),  # published, with no local run of its own
    }
    offline = board[("digits-cnn", "Offline")]
    assert offline["best"]["key"] == "local:b" and offline["best"]["backend"] == "openvino"
    assert (offline["metric_name"], offline["unit"]) == ("throughput", "samples/s")
    assert (offline["runs"], offline["valid_runs"]) == (4, 3)
    assert {o["name"]: o["value"] for o in offline["others"]} == {
        "onnxruntime on host": 900.0,
        "null on host": 90000.0,
    }
    # the accuracy beside it: named, against the target, and failing here (96 < 97)
    acc = offline["accuracy"]
    assert (acc["metric"], acc["value"], acc["target"], acc["passed"]) == (
        "top-1",
        96.0,
        97.0,
        False,
    )
    assert data["rows"][4]["verdict"] == "FAIL"
    multi = board[("digits-cnn", "MultiStream")]
    assert multi["best"]["value"] == 7.5 and multi["metric_label"] == "early-stopping p99"
    assert not multi["higher_is_better"]
    assert board[("digits-cnn", "Server")]["best"] is None
    assert board[("digits-cnn", "Server")]["latest_verdict"] == "INVALID"
    standin = board[("resnet50-standin", "Offline")]
    assert standin["standin"] and standin["published"]["value"] == 4000.0
    assert standin["vs_published"] == pytest.approx(0.01)
    assert standin["published"]["who"] == "Intel host"
    assert board[("resnet50", "Server")]["source"] == "published"
    # a stream run too short for early stopping (0 ms) is no point in a chart
    (chart,) = [c for c in data["charts"] if c["scenario"] == "MultiStream"]
    assert [p["value"] for p in chart["points"]] == [7.5]


def test_labels_name_every_figure() -> None:
    from perfpilot.tasks import labels

    assert labels.figure_text(12.3456, "MultiStream", "ms") == "12.346 ms (early-stopping p99)"
    assert labels.figure_text(1.5, "SingleStream", "latency_ms") == "1.500 ms (early-stopping p90)"
    assert labels.figure_text(0.0, "MultiStream", "ms").startswith("n/a")
    assert labels.figure_text(1234.5, "Offline", "samples_per_second") == "1,234.5 samples/s"
    assert labels.figure_text(99.0, "Server", "tokens/s") == "99.0 tokens/s"
    assert labels.accuracy_metric("digits-cnn") == "top-1"
    assert labels.accuracy_metric("bert-99") == "F1"
    assert labels.accuracy_metric("no-such-model") is None
    assert labels.accuracy_text(75.73, "top-1") == "top-1 75.730%"
    assert labels.accuracy_target("resnet50-standin") is None
    assert labels.accuracy_target("digits-cnn") == 97.0
    assert labels.SCENARIO_METRICS["MultiStream"].header == "early-stopping p99 (ms)"


def test_sweep_plot_marks_the_pareto_front() -> None:
    rows = [
        _row(id=n, run_id=n, value=v, p99_ms=lat, tags={"sweep": "s", "point": n})
        for n, v, lat in (("fast", 100.0, 5.0), ("slow", 50.0, 1.0), ("worse", 40.0, 6.0))
    ]
    (plot,) = export.site_data(rows, ["s"], pareto_front, export.page_names(rows), "now")["sweeps"]
    assert plot["objectives"] == {"value": "max", "p99_ms": "min"}
    assert plot["front"] == ["local:fast", "local:slow"]
    assert {p["point"] for p in plot["points"]} == {"fast", "slow", "worse"}


def _site(tmp_path: Path, rows: list[dict[str, Any]], sweeps: list[str] | None = None) -> Path:
    out = tmp_path / "site"
    build_site(rows, sweeps or [], out, pareto_front)
    return out


def test_every_record_value_is_escaped_in_the_files(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "mlperf_log_summary.txt").write_text("summary\n")
    row = _row(model=EVIL_MODEL, tags={"note": EVIL_TAG, EVIL_TAG: "k"}, run_dir=str(run_dir))
    out = _site(tmp_path, [row])
    index = (out / "index.html").read_text()
    assert "__pwned" in index  # the data is there, but only as escaped JSON
    assert "<script>window" not in index and "<img" not in index
    assert index.count("<script") == 3  # the data block, plotly.min.js and app.js
    page = (out / "runs" / "r1.html").read_text()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "digits&quot;cnn&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;" in page
    data = json.loads((out / "data.json").read_text())
    assert data["rows"][0]["model"] == EVIL_MODEL and data["rows"][0]["tags"]["note"] == EVIL_TAG


def test_run_page_is_grouped_with_human_units(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    record = {
        "config": {"batch_size": 8},
        "loadgen_settings": {"target_qps": 10},
        "result": {"latency_ns": {"p50": 1_500_000, "p99": 2_250_000_000}, "metric": 3.0},
        "accuracy": {"metric": "top-1", "value": 98.0, "target": 97.0, "passed": True},
        "provenance": {"software": {"onnxruntime": "1.0"}, "system": {"cpu_model": "x"}},
        "peak_rss_bytes": 3 * 2**20,
        "run_id": "r1",
    }
    (run_dir / "run.json").write_text(json.dumps(record))
    row = _row(scenario="MultiStream", metric="latency_ms", value=3.0, run_dir=str(run_dir))
    page = (_site(tmp_path, [row]) / "runs" / "r1.html").read_text()
    sections = [part.split("</h2>", 1)[0] for part in page.split("<h2>")[1:]]
    assert sections == ["Result", "Settings", "Provenance", "Logs"]
    assert "early-stopping estimate of the p99 latency" in page
    assert "1.500 ms" in page and "2,250.0 ms" in page and "1500000" not in page
    assert "3.0 MiB" in page and "peak_rss (MiB)" in page


def test_extra_pages_are_linked_from_the_index(tmp_path: Path) -> None:
    from perfpilot.dashboard.pages import ExtraPage, esc

    page = ExtraPage("fleet", "Fleet <report>", f"<p>{esc(EVIL_TAG)}</p>")
    out = tmp_path / "site"
    build_site([_row()], [], out, pareto_front, extra_pages=[page])
    index = (out / "index.html").read_text()
    assert '<a href="pages/fleet.html">Fleet &lt;report&gt;</a>' in index
    written = (out / "pages" / "fleet.html").read_text()
    assert "&lt;script&gt;window.__pwned=1" in written and "<script" not in written
    with pytest.raises(ValueError, match="page name"):
        build_site([], [], out, pareto_front, extra_pages=[ExtraPage("../x", "x", "")])


def test_logs_are_copied_or_linked_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("perfpilot.dashboard.build.COPY_LIMIT", 100)
    run_dir = tmp_path / "ws" / "runs" / "r1"
    (run_dir / "sub").mkdir(parents=True)
    (run_dir / "mlperf_log_summary.txt").write_text("Result is : VALID\n")
    (run_dir / "sub" / "user conf.txt").write_text("*.Offline.target_qps = 1\n")
    (run_dir / "mlperf_log_accuracy.json").write_text("[" + " " * 500 + "]")
    out = _site(tmp_path, [_row(run_dir=str(run_dir))])
    page = (out / "runs" / "r1.html").read_text()
    hrefs = [part.split('"', 1)[0] for part in page.split('<a href="')[1:]]
    logs = {h.rsplit("/", 1)[-1]: h for h in hrefs if "log" in h or "conf" in h}
    assert logs["mlperf_log_summary.txt"] == "../logs/r1/mlperf_log_summary.txt"
    assert logs["user%20conf.txt"] == "../logs/r1/sub/user%20conf.txt"
    big = logs["mlperf_log_accuracy.json"]
    assert not big.startswith("/") and big.startswith("../")  # too big: linked, relative
    assert (out / "runs" / big).resolve() == (run_dir / "mlperf_log_accuracy.json").resolve()
    copied = out / "runs" / logs["mlperf_log_summary.txt"]
    assert copied.read_text() == "Result is : VALID\n"
    assert not (out / "logs" / "r1" / "mlperf_log_accuracy.json").exists()


def test_rebuild_replaces_and_a_failed_build_changes_nothing(tmp_path: Path) -> None:
    out = _site(tmp_path, [_row(id="old", run_id="old")])
    assert (out / "runs" / "old.html").exists() and (out / MARKER).exists()
    before = (out / "index.html").read_text()

    def broken(points: Any, objectives: Any) -> list[dict[str, Any]]:
        raise RuntimeError("boom")

    sweep_row = _row(id="new", run_id="new", tags={"sweep": "s"})
    with pytest.raises(RuntimeError):
        build_site([sweep_row], ["s"], out, broken)
    assert (out / "index.html").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no temp folder left
    build_site([_row(id="new", run_id="new")], [], out, pareto_front)
    assert (out / "runs" / "new.html").exists() and not (out / "runs" / "old.html").exists()


def test_refuses_a_folder_that_is_not_a_dashboard(tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty and holds no perfpilot dashboard"):
        check_out_dir(mine)
    proc = run_cli("--workspace", str(tmp_path / "ws"), "dashboard", "build", "--out", str(mine))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "holds no perfpilot dashboard" in proc.stderr
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]


def test_cli_build_and_serve(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    missing = run_cli("--workspace", str(ws), "dashboard", "serve", "--port", "0")
    assert missing.returncode == 2 and "no dashboard in" in missing.stderr
    no_db = run_cli("--workspace", str(ws), "dashboard", "build", "--db", str(tmp_path / "x.db"))
    assert no_db.returncode == 2 and "no results database at" in no_db.stderr
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database")
    corrupt = run_cli("--workspace", str(ws), "dashboard", "build", "--db", str(bad))
    assert corrupt.returncode == 2 and "not a readable results database" in corrupt.stderr
    assert bad.read_text() == "not a database" and not (ws / "dashboard").exists()
    built = run_cli("--workspace", str(ws), "dashboard", "build", "--json")
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["rows"] == 0 and Path(report["out"]) == ws / "dashboard"
    assert (ws / "dashboard" / "plotly.min.js").stat().st_size > 1_000_000
    serve = ["dashboard", "serve", "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfpilot", "--workspace", str(ws), *serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "index.html", timeout=30) as resp:
            assert b'id="perfpilot-data"' in resp.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_serve_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    from perfpilot.dashboard.serve import make_server

    out = _site(tmp_path, [])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"):
            make_server(out, port)
    server = make_server(out, 0)
    try:
        assert server.server_address[0] == "127.0.0.1"  # never on other interfaces
    finally:
        server.server_close()


# ---------------------------------------------------------------- end to end (Chromium)


@pytest.fixture(scope="module")
def real_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with real short LoadGen runs: a two-point sweep, an accuracy run, a
    null-backend run, a SingleStream run with a hostile tag, a copy of a record whose model
    name carries markup and a quote, and (where the fixture is) a published tree."""
    from perfpilot.config.run import build_run_configs
    from perfpilot.engine.runner import run_benchmark
    from perfpilot.results.db import index_record
    from perfpilot.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("dash") / "ws", on_record=index_record)
    short = {"min_duration_ms": 200, "min_query_count": 1}
    for batch in (8, 32):
        cfgs = build_run_configs("Offline", "performance", batch_size=batch, **short)
        run_benchmark(cfgs, ws, ["pytest"], tags={"sweep": "demo", "point": f"b{batch}"})
    accuracy = build_run_configs("Offline", "accuracy", dataset_size=64)
    run_benchmark(accuracy, ws, ["pytest"])
    null = build_run_configs("Offline", "performance", backend="null", **short)
    run_benchmark(null, ws, ["pytest"])
    cfgs = build_run_configs("SingleStream", "performance", min_duration_ms=200, min_query_count=50)
    (single,) = run_benchmark(cfgs, ws, ["pytest"], tags={"note": EVIL_TAG})
    copy_dir = ws.runs_dir / f"{single.run_id}-copy"
    shutil.copytree(single.run_dir, copy_dir)
    record = json.loads((copy_dir / "run.json").read_text())
    record.update(run_id=copy_dir.name, run_dir=str(copy_dir))
    record["config"].update(model=EVIL_MODEL, backend=EVIL_BACKEND)
    (copy_dir / "run.json").write_text(json.dumps(record))  # not in the database: merged in
    if FIXTURE_RESULTS.is_dir():
        proc = run_cli("--workspace", str(ws.root), "results", "import", str(FIXTURE))
        assert proc.returncode == 0, proc.stderr
    return ws.root


FLEET = "lab"
FLEET_NODES = ("node-a", "node-b", "node-c")


@pytest.fixture(scope="module")
def fleet_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fleet of three nodes' runs, recorded as ``fleet run`` records them, without Ray's
    scheduling: on each "node", what its trial runs (``run_benchmark`` in a scratch
    workspace, tagged fleet=lab), packed as the trial sends it back (``run_back``), then
    brought into the workspace with that node's facts (``bring_back``, which indexes it).
    Node c stands for an older install: its record names another onnxruntime version."""
    from perfpilot.cluster.dispatch import bring_back
    from perfpilot.cluster.trial import RunBack, run_back
    from perfpilot.config.run import build_run_configs
    from perfpilot.engine.runner import run_benchmark
    from perfpilot.results.db import index_record
    from perfpilot.workspace import Workspace

    root = tmp_path_factory.mktemp("fleet")
    ws = Workspace(root / "ws", on_record=index_record)
    cfgs = build_run_configs("Offline", "performance", min_duration_ms=200, min_query_count=1)
    for index, host in enumerate(FLEET_NODES):
        scratch = Workspace(root / f"scratch-{host}")
        (record,) = run_benchmark(
            cfgs, scratch, ["perfpilot", "fleet", "run"], tags={"fleet": FLEET}
        )
        back = run_back(record)
        if host == "node-c":
            data = json.loads(back.record_json)
            data["provenance"]["software"]["onnxruntime"] = "1.16.0"
            back = RunBack(json.dumps(data), back.archive)
        node_id = f"{index + 1:02x}" * 28  # as long as a Ray node id
        node = {"hostname": host, "ray_node_id": node_id, "ip": "127.0.0.1", "shipped": []}
        node.update(labels={"rack": "a"}, system={"system_name": host})
        bring_back(ws, back, node)
    return ws.root


def _fleet_rows(page: str) -> list[tuple[bool, str, str]]:
    """(outlier?, node, figure) of each row of a fleet page's figures table."""
    found = re.findall(
        r'<tr class="(outlier|node)"><td class="node">([^<]*)(?:<span[^>]*>OUTLIER</span>)?'
        r'</td><td class="num">([^<]*)</td>',
        page,
    )
    return [(kind == "outlier", node.strip(), figure) for kind, node, figure in found]


@pytest.mark.slow
def test_fleet_page_shows_the_fleet_report(fleet_workspace: Path, tmp_path: Path) -> None:
    """The dashboard's fleet page: every node, the median, the outlier marked and the
    environment difference, the same figures as `fleet report` (threshold 0: the slowest
    node is below the median, so an outlier), linked from the index."""
    ws = ("--workspace", str(fleet_workspace))
    report = run_cli(*ws, "fleet", "report", FLEET, "--threshold", "0", "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    (test,) = data["tests"]
    assert test["metric"] == "throughput" and test["unit"] == "samples/s"
    figures = {n["node"]: n["value"] for n in test["nodes"]}
    slowest = min(figures, key=lambda n: figures[n])
    assert data["outliers"] == [slowest]
    out = tmp_path / "site"
    built = run_cli(*ws, "dashboard", "build", "--out", str(out), "--fleet-threshold", "0")
    assert built.returncode == 0, built.stderr
    assert "3 local run(s)" in built.stdout and "1 fleet page(s)" in built.stdout
    index = (out / "index.html").read_text()
    assert f'<a href="pages/fleet-{FLEET}.html">Fleet {FLEET}</a>' in index
    page = (out / "pages" / f"fleet-{FLEET}.html").read_text()
    rows = _fleet_rows(page)
    assert [node.split("/")[0] for _, node, _ in rows] == list(FLEET_NODES)
    assert [node for outlier, node, _ in rows if outlier] == [slowest]
    assert [figure for _, _, figure in rows] == [f"{figures[n]:,.1f}" for _, n, _ in rows]
    assert "throughput (samples/s)" in page and "Offline performance: throughput" in page
    assert f"{test['median']:,.1f} samples/s" in page  # the median, with its unit
    assert f"Outliers: <strong>{slowest}</strong>" in page
    assert "package onnxruntime" in page and "1.16.0" in page  # node c's older install
    for stem in re.findall(r'href="\.\./runs/([^"]+)\.html"', page):
        assert (out / "runs" / f"{stem}.html").is_file()  # each figure links to its run
    assert page.count('href="../runs/') == 3
    # the default threshold (10%): the page says so, and marks what the report marks
    again = run_cli(*ws, "dashboard", "build", "--out", str(out))
    assert again.returncode == 0, again.stderr
    default = json.loads(run_cli(*ws, "fleet", "report", FLEET, "--json").stdout)
    page = (out / "pages" / f"fleet-{FLEET}.html").read_text()
    assert [n for o, n, _ in _fleet_rows(page) if o] == default["outliers"]
    assert "--threshold 10</code>" in page
    bad = run_cli(*ws, "dashboard", "build", "--out", str(out), "--fleet-threshold", "-1")
    assert bad.returncode == 2 and "--fleet-threshold" in bad.stderr


@pytest.mark.slow
def test_a_fleet_name_with_markup_is_text(fleet_workspace: Path, tmp_path: Path) -> None:
    from perfpilot.dashboard.fleet_page import fleet_pages
    from perfpilot.workspace import Workspace

    records = [
        r.model_copy(update={"tags": {**r.tags, "fleet": EVIL_TAG}})
        for r in Workspace(fleet_workspace).records()
    ]
    (page,) = fleet_pages(records, 10.0, {})
    assert re.fullmatch(r"fleet-[0-9a-f]{12}", page.name)  # a safe file name
    out = tmp_path / "site"
    build_site([_row()], [], out, pareto_front, extra_pages=[page])
    written = (out / "pages" / f"{page.name}.html").read_text()
    assert "<script" not in written and "&lt;script&gt;window.__pwned=1" in written
    index = (out / "index.html").read_text()
    assert "Fleet &lt;script&gt;window.__pwned=1" in index and "<script>window" not in index


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("headless Chromium not installed (apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium not installed (pip install selenium)"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,1800")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def _console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _shown_rows(driver: Any) -> int:
    return len(driver.find_elements("css selector", "#results-table tbody tr"))


def _save_screenshot(driver: Any, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / name))
    assert (tmp_path / name).stat().st_size > 10_000
    artifacts = os.environ.get("PERFPILOT_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / name, Path(artifacts) / name)


@pytest.mark.slow
def test_dashboard_in_headless_chromium(real_workspace: Path, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    published = 2 if FIXTURE_RESULTS.is_dir() else 0  # Offline and Server, when imported
    total = 6 + published
    out = tmp_path / "site"
    proc = run_cli("--workspace", str(real_workspace), "dashboard", "build", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"6 local run(s), {published} published result(s)" in proc.stdout
    assert "1 sweep plot(s)" in proc.stdout

    browser.get((out / "index.html").as_uri())
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sweep-list .plot svg.main-svg"))
    assert _console_errors(browser) == []
    # Charts: Offline, SingleStream, the markup-named model (and the published benchmark's
    # two) and 1 sweep plot, with points.
    assert len(browser.find_elements(By.CSS_SELECTOR, ".plot svg.main-svg")) >= 4
    assert len(browser.find_elements(By.CSS_SELECTOR, ".scatterlayer .point")) >= 6
    # The null-backend run is held apart, and said so; ticking the box charts it, labelled.
    notes = browser.find_element(By.ID, "chart-list").text
    assert "1 null-backend point(s) hidden" in notes
    legends = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "g.legend text")]
    assert not any("null backend" in t for t in legends)
    browser.find_element(By.ID, "chart-no-inference").click()
    legends = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "g.legend text")]
    assert "null backend (no inference: LoadGen overhead only)" in legends
    # Axis labels say who ran it, never a run id.
    ticks = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "g.xtick text")]
    assert "onnxruntime on cpu" in ticks and not any(t.startswith("2026") for t in ticks)

    # The leaderboard: digits-cnn's Offline best is the sweep's best onnxruntime point.
    board = browser.find_element(By.ID, "leaderboard-table").text
    assert "early-stopping estimate of the p90 latency" in board and "throughput" in board
    assert "top-1" in board and "PASS" in board and "ACCURACY" not in board

    # The table and its filters.
    assert _shown_rows(browser) == total
    box = browser.find_element(By.ID, "filter-text")
    box.send_keys("SingleStream")
    assert _shown_rows(browser) == 2
    box.send_keys(" no such run")
    assert _shown_rows(browser) == 0
    assert browser.find_element(By.ID, "row-count").text == f"0 of {total} rows"
    box.clear()
    box.send_keys("demo")  # sweep tag
    assert _shown_rows(browser) == 2
    box.clear()
    box.send_keys(" ")  # clear() fires no input event
    scenario = Select(browser.find_element(By.ID, "filter-scenario"))
    scenario.select_by_value("Offline")
    assert _shown_rows(browser) == 4 + published // 2
    if published:  # published results beside local runs, marked as such
        Select(browser.find_element(By.ID, "filter-source")).select_by_value("published")
        assert _shown_rows(browser) == 1
        assert "25,204.5 samples/s" in browser.find_element(By.ID, "results-table").text
        assert "top-1 75.730%" in browser.find_element(By.ID, "results-table").text
        Select(browser.find_element(By.ID, "filter-source")).select_by_value("")
        ticks = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "g.xtick text")]
        assert "published: Intel 1-node-2S-EMR-PyTorch v4.1" in ticks
        assert "published only" in board and "top-1 75.730%" in board

    # Hostile values show as text, never as markup.
    assert browser.execute_script("return window.__pwned") is None
    assert browser.find_elements(By.CSS_SELECTOR, "main img, #results-table script") == []
    scenario.select_by_value("")
    table_text = browser.find_element(By.ID, "results-table").text
    assert EVIL_TAG in table_text and EVIL_MODEL in table_text
    chart_titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#chart-list h3")]
    assert f"{EVIL_MODEL} · SingleStream: early-stopping p90 (ms)" in chart_titles
    ticks = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "g.xtick text")]
    assert f"{EVIL_BACKEND} on cpu" in ticks
    browser.execute_script("window.scrollTo(0, 0)")
    _save_screenshot(browser, tmp_path, "dashboard-index.png")

    # A run page: provenance, hashes, and a log link that opens.
    link = browser.find_element(
        By.LINK_TEXT, next(p.stem for p in (out / "runs").glob("*-copy.html"))
    )
    link.click()
    wait.until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
    text = browser.find_element(By.TAG_NAME, "main").text
    assert EVIL_TAG in text and EVIL_MODEL in text
    assert "mlcommons-loadgen" in text and "sha256" in text and "cpu_model" in text
    assert "early-stopping estimate of the p90 latency" in text and " ms" in text
    assert browser.execute_script("return window.__pwned") is None
    assert _console_errors(browser) == []
    _save_screenshot(browser, tmp_path, "dashboard-run.png")
    browser.find_element(By.LINK_TEXT, "mlperf_log_summary.txt").click()
    assert "Result is : VALID" in browser.find_element(By.TAG_NAME, "body").text


def _in_view(driver: Any, css: str) -> bool:
    """Whether the element's box lies wholly inside the viewport (no scrolling needed)."""
    return bool(
        driver.execute_script(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
            "return r.width > 0 && r.left >= 0 && r.top >= 0"
            " && r.right <= window.innerWidth && r.bottom <= window.innerHeight;",
            css,
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_leaderboard_is_the_first_screen(
    real_workspace: Path,
    fleet_workspace: Path,
    browser: Any,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    """At 1280x800 and 1920x1080 the leaderboard's result, status and accuracy columns
    show without scrolling. With PERFPILOT_DOCS_SCREENSHOTS=DIR, each page type of a
    dashboard without the hostile test rows (index, charts, sweeps, a run, a fleet) is
    saved there (docs/img)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from perfpilot.dashboard.build import run_pages
    from perfpilot.dashboard.fleet_page import fleet_pages
    from perfpilot.dashboard.rows import load_rows
    from perfpilot.workspace import Workspace

    rows, sweeps = load_rows(Workspace(real_workspace))
    clean = [
        {**r, "tags": {k: v for k, v in r["tags"].items() if k != "note"}}
        for r in rows
        if r.get("model") != EVIL_MODEL
    ]
    clean += load_rows(Workspace(fleet_workspace))[0]
    fleets = fleet_pages(Workspace(fleet_workspace).records(), 10.0, run_pages(clean))
    out = tmp_path / "site"
    build_site(clean, sweeps, out, pareto_front, extra_pages=fleets)
    width, height = size
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        browser.get((out / "index.html").as_uri())
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sweep-list .plot svg.main-svg"))
        assert _console_errors(browser) == []
        assert browser.execute_script("return window.innerWidth") == width
        for col in ("result", "status", "accuracy"):
            assert _in_view(browser, f"#leaderboard-table th[data-col={col}]"), col
            assert _in_view(browser, f"#leaderboard-table tbody tr td[data-col={col}]"), col
        first = browser.find_element(By.CSS_SELECTOR, "#leaderboard-table tbody tr").text
        assert "digits-cnn" in first and ("samples/s" in first or " ms" in first)
        docs = os.environ.get("PERFPILOT_DOCS_SCREENSHOTS")
        shots = Path(docs) if docs else tmp_path
        shots.mkdir(parents=True, exist_ok=True)
        _shot(browser, shots / f"dashboard-index-{width}.png")
        if width == 1280:
            for section in ("charts", "sweeps"):
                browser.execute_script(
                    "document.getElementById(arguments[0]).scrollIntoView()", section
                )
                _shot(browser, shots / f"dashboard-{section}.png")
            browser.get((out / "runs").as_uri() + "/" + _page_of(clean, "SingleStream"))
            wait.until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
            _shot(browser, shots / "dashboard-run.png")
            # the fleet page, reached from the index's navigation
            browser.get((out / "index.html").as_uri())
            browser.find_element(By.LINK_TEXT, f"Fleet {FLEET}").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.fleet-table"))
            assert _console_errors(browser) == []
            table = browser.find_element(By.CSS_SELECTOR, "table.fleet-table").text
            assert all(node in table for node in FLEET_NODES)
            assert "throughput (samples/s)" in table and "VALID" in table
            bars = browser.find_elements(By.CSS_SELECTOR, "table.fleet-table td.bar div")
            assert len(bars) == 3 and max(b.size["width"] for b in bars) > 100
            assert "1.16.0" in browser.find_element(By.CSS_SELECTOR, "table.fleet-env").text
            _shot(browser, shots / "dashboard-fleet.png")
        assert all(p.stat().st_size > 10_000 for p in shots.glob("dashboard-*.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _shot(driver: Any, path: Path) -> None:
    """A screenshot, made small for the docs (a 128-colour palette) where Pillow is."""
    driver.save_screenshot(str(path))
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128)
    small.save(path, optimize=True)


def _page_of(rows: list[dict[str, Any]], scenario: str) -> str:
    names = export.page_names(rows)
    row = next(r for r in rows if r.get("scenario") == scenario and r["source"] == "local")
    return names[export.row_key(row)] + ".html"


@pytest.mark.slow
def test_cli_names_every_figure(real_workspace: Path) -> None:
    """`results list` and `sweep report` say what each figure is and in what unit."""
    ws = ("--workspace", str(real_workspace))
    listed = run_cli(*ws, "results", "list", "--scenario", "SingleStream")
    assert listed.returncode == 0, listed.stderr
    assert "(early-stopping p90)" in listed.stdout and "p99 ms" in listed.stdout
    accuracy = run_cli(*ws, "results", "list", "--scenario", "Offline")
    assert accuracy.returncode == 0, accuracy.stderr
    assert "top-1 " in accuracy.stdout
    report = run_cli(*ws, "sweep", "report", "demo")
    assert report.returncode == 0, report.stderr
    assert "throughput (samples/s)" in report.stdout and "p99 (ms)" in report.stdout
