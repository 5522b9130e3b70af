"""perfpilot's checker and importer on generative (token) benchmarks: a hand-made
test-length llama3.1-8b tree (stand-in, open division, round v6.1 layout) passes, and
each broken copy gives its one-line finding; the importer stores tokens/s.

The tree is written here (no network in CI), modelled on the layout of published v6.x
results: LoadGen logs with token latencies, a ROUGE accuracy.txt, TEST06 verdicts.
bench/llm_checker_compare.py does the same checks on real published trees against the
official checker (docs/submission-llm.md)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from perfpilot.submission import rounds
from perfpilot.submission.check import check_tree, read_csv_rows
from perfpilot.submission.check.findings import ERROR, WARNING

ROUND = "v6.1"
SUBMITTER = "perfpilot"
SYSTEM = "cpu-box"
MODEL = "llama3.1-8b"

# One request per line: tokens/s figures of a short stand-in run.
OFFLINE_TPS = 812.5
SERVER_TPS = 640.25
INTERACTIVE_TPS = 410.75


def _mllog(key: str, value: object) -> str:
    record = {
        "key": key,
        "value": value,
        "time_ms": 0.0,
        "namespace": "mlperf::logging",
        "event_type": "POINT_IN_TIME",
        "metadata": {"is_error": False, "is_warning": False, "file": "t.cc", "line_no": 1},
    }
    return ":::MLLOG " + json.dumps(record)


def _detail(scenario: str, mode: str, extra: dict[str, object], round_name: str) -> str:
    """A LoadGen detail log of a token run (``scenario`` as LoadGen logs it)."""
    seeds = rounds.get_round(round_name).seeds
    values: dict[str, object] = {
        "loadgen_version": "6.0.17 @ test",
        "effective_scenario": scenario,
        "effective_test_mode": mode,
        "requested_use_token_latencies": True,
        "effective_sample_concatenate_permutation": True,
        "effective_performance_sample_count": 13368,
        "effective_min_duration_ms": 1000,
        "effective_min_query_count": 8,
        "effective_samples_per_query": 8 if scenario == "Offline" else 1,
        "effective_target_latency_ns": 0,
        "qsl_reported_total_count": 8,
        "effective_accuracy_sample_count": 8,
        **{f"effective_{k}": v for k, v in seeds.items()},
    }
    if mode == "PerformanceOnly":
        values |= {"result_validity": "VALID", "result_query_count": 8}
        if scenario == "Offline":
            values |= {"result_samples_per_second": 2.5, "result_tokens_per_second": OFFLINE_TPS}
        else:
            values |= {"result_completed_samples_per_sec": 2.0, "early_stopping_met": True}
    values |= extra
    return "\n".join(_mllog(k, v) for k, v in values.items()) + "\n"


def _server(tps: float, ttft_ms: float, tpot_ms: float) -> dict[str, object]:
    return {
        "result_completed_tokens_per_second": tps,
        "result_first_token_99.00_percentile_latency_ns": int(ttft_ms * 1e6),
        "result_time_per_output_token_99.00_percentile_ns": int(tpot_ms * 1e6),
    }


ACCURACY = (
    "{'rouge1': 38.9512, 'rouge2': 16.0034, 'rougeL': 24.6001, 'rougeLsum': 35.9123, "
    "'gen_len': 8190312, 'gen_num': 13368}\n"
)
TEST06_PASS = "First token check pass: {first}\nEOS check pass: True\nSample length check pass: True\nTEST06 verification complete\n"  # noqa: E501


def _scenario(
    folder: Path, layout: str, log_scenario: str, perf: dict[str, object], test06: str
) -> None:
    """One scenario of the result: its runs, measurements and TEST06, in ``layout``
    (``v6``: all in the scenario folder; ``v4``: measurements/ and compliance/ beside)."""
    round_name = "v6.1" if layout == "v6" else "v5.1"
    meas = comp = folder
    if layout == "v4":
        sub, tail = folder.parents[3], folder.relative_to(folder.parents[2])
        meas, comp = sub / "measurements" / tail, sub / "compliance" / tail
        meas.mkdir(parents=True)
    run = folder / "performance" / "run_1"
    run.mkdir(parents=True)
    (run / "mlperf_log_detail.txt").write_text(
        _detail(log_scenario, "PerformanceOnly", perf, round_name)
    )
    (run / "mlperf_log_summary.txt").write_text("Result is : VALID\n")
    acc = folder / "accuracy"
    acc.mkdir()
    (acc / "mlperf_log_detail.txt").write_text(
        _detail(log_scenario, "AccuracyOnly", {}, round_name)
    )
    (acc / "mlperf_log_summary.txt").write_text("No warnings encountered during test.\n")
    (acc / "mlperf_log_accuracy.json").write_text("[\n]\n")
    digest = hashlib.sha256((acc / "mlperf_log_accuracy.json").read_bytes())
    (acc / "accuracy.txt").write_text(ACCURACY + f"hash={digest.hexdigest()}\n")
    (meas / "user.conf").write_text("*.*.min_duration = 1000\n")
    (meas / "README.md").write_text("perfpilot run --model llama3.1-8b-standin\n")
    name = "measurements.json" if layout == "v6" else f"{SYSTEM}_{folder.name}.json"
    (meas / name).write_text(
        json.dumps(
            {
                "input_data_types": "int32",
                "retraining": "No",
                "starting_weights_filename": "perfpilot stand-in (random weights)",
                "weight_data_types": "fp32",
                "weight_transformations": "none",
            }
        )
    )
    t06 = comp / "TEST06"
    (t06 / "accuracy").mkdir(parents=True)
    (t06 / "verify_accuracy.txt").write_text(TEST06_PASS.format(first=test06))
    (t06 / "accuracy" / "mlperf_log_accuracy.json").write_text("[\n]\n")


def make_tree(root: Path, division: str = "open", layout: str = "v6") -> Path:
    """A test-length llama3.1-8b submission: Offline, Server and Interactive, laid out
    for round v6.1 (``v6``) or v5.1 (``v4``: code/, measurements/, compliance/)."""
    sub = root / division / SUBMITTER
    system = {k: "n/a" for k in rounds.common()["system_fields"]}
    system |= {
        "division": division,
        "submitter": SUBMITTER,
        "status": "available",
        "system_name": "a CPU box",
        "system_type": "datacenter",
        "number_of_nodes": "1",
        "host_processors_per_node": "1",
        "host_processor_core_count": "2",
        "accelerators_per_node": "0",
        "host_network_card_count": "1",
    }
    (sub / "systems").mkdir(parents=True)
    (sub / "systems" / f"{SYSTEM}.json").write_text(json.dumps(system))
    code = sub / "src" if layout == "v6" else sub / "code" / MODEL
    code.mkdir(parents=True)
    (code / "README.md").write_text("perfpilot\n")
    (sub / "documentation").mkdir()
    (sub / "documentation" / "calibration.md").write_text("none\n")
    model = sub / "results" / SYSTEM / MODEL
    _scenario(model / "Offline", layout, "Offline", {}, "Skipped")
    _scenario(model / "Server", layout, "Server", _server(SERVER_TPS, 1500, 80), "True")
    _scenario(model / "Interactive", layout, "Server", _server(INTERACTIVE_TPS, 420, 25), "True")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree")


def _results(report: object) -> dict[str, object]:
    return {r.scenario: r for r in report.results}  # type: ignore[attr-defined]


def test_llm_rules_of_the_rounds() -> None:
    r51, r61 = rounds.get_round("v5.1"), rounds.get_round("v6.1")
    llama = r61.model("llama3.1-8b")
    assert llama.required_scenarios["datacenter"] == ["Offline"]
    assert llama.one_of("datacenter") == ["Server", "Interactive"]
    assert llama.token_latency_ns["Interactive"] == {"ttft": 500_000_000, "tpot": 30_000_000}
    assert llama.compliance == ["TEST06"]
    assert llama.metric_keys["Server"] == "result_completed_tokens_per_second"
    assert dict(llama.accuracy_upper)["GEN_LEN"] == pytest.approx(8167644 * 1.1)
    assert r61.model("gpt-oss-120b").compliance == ["TEST07", "TEST09"]
    assert r61.model("gpt-oss-120b").accuracy_sample_count == 4395
    assert "llama2-70b-99" not in r61.models and "llama2-70b-99" in r51.models
    assert "gpt-oss-120b" not in r51.models
    # v5.1's checker has no Tokens/s unit for llama3.1-8b Interactive (it writes Queries/s)
    assert r51.model("llama3.1-8b").units["Interactive"] == "Queries/s"
    assert r61.model("llama3.1-8b").units["Interactive"] == "Tokens/s"
    assert r61.model("whisper").compliance == ["TEST01"]
    assert r51.model("deepseek-r1").required_scenarios["datacenter"] == ["Server", "Offline"]
    assert r61.required_scenarios("llama3.1-8b-edge", "edge") == ["SingleStream", "Offline"]


def test_handmade_llm_tree_passes(tree: Path) -> None:
    report = check_tree(tree, ROUND, relax_lengths=True)
    assert report.ok, [f.line() for f in report.errors]
    rows = _results(report)
    assert set(rows) == {"Offline", "Server", "Interactive"}
    assert rows["Offline"].result == OFFLINE_TPS  # type: ignore[attr-defined]
    assert rows["Server"].result == SERVER_TPS  # type: ignore[attr-defined]
    assert rows["Interactive"].result == INTERACTIVE_TPS  # type: ignore[attr-defined]
    assert {r.units for r in report.results} == {"Tokens/s"}
    assert rows["Offline"].accuracy.startswith("ROUGE1: 38.9512  ROUGE2: 16.0034")  # type: ignore[attr-defined]
    csv = {r["Scenario"]: r for r in read_csv_rows(report.csv_text())}
    assert csv["Interactive"]["inferred"] == "1"  # as the v6.x checker writes it
    assert csv["Offline"]["Units"] == "Tokens/s"


def _set(path: Path, key: str, value: object) -> None:
    text = path.read_text()
    new, n = re.subn(
        r'("key": "' + re.escape(key) + r'", "value": )([^,]*)',
        lambda m: m.group(1) + json.dumps(value),
        text,
    )
    assert n, key
    path.write_text(new)


def _only(report: object, rule: str) -> list[str]:
    return [f.line() for f in report.findings if f.rule == rule]  # type: ignore[attr-defined]


MODEL_DIR = Path("open") / SUBMITTER / "results" / SYSTEM / MODEL


def test_ttft_over_interactive_bound(tree: Path) -> None:
    # 600 ms is fine for Server (2 s) but over Interactive's 500 ms
    detail = tree / MODEL_DIR / "Interactive" / "performance" / "run_1" / "mlperf_log_detail.txt"
    _set(detail, "result_first_token_99.00_percentile_latency_ns", 600_000_000)
    report = check_tree(tree, ROUND, relax_lengths=True)
    lines = _only(report, "perf-token-latency")
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "Interactive p99 TTFT 600 ms is not under the bound 500 ms" in lines[0]
    assert lines[0].startswith("ERROR")
    assert not _results(report)["Interactive"].passed  # type: ignore[attr-defined]
    assert _results(report)["Server"].passed  # type: ignore[attr-defined]


def test_token_latencies_off(tree: Path) -> None:
    detail = tree / MODEL_DIR / "Offline" / "performance" / "run_1" / "mlperf_log_detail.txt"
    _set(detail, "requested_use_token_latencies", False)
    lines = _only(check_tree(tree, ROUND, relax_lengths=True), "perf-token-latencies-off")
    assert len(lines) == 1 and "use_token_latencies was off" in lines[0]


def test_missing_server_and_interactive(tmp_path: Path) -> None:
    for division, severity in (("open", WARNING), ("closed", ERROR)):
        root = make_tree(tmp_path / division, division)
        model = root / division / SUBMITTER / "results" / SYSTEM / MODEL
        shutil.rmtree(model / "Server")
        shutil.rmtree(model / "Interactive")
        lines = _only(check_tree(root, ROUND, relax_lengths=True), "scenario-missing")
        assert len(lines) == 1, lines
        assert lines[0].startswith(severity.upper())
        assert "one of Server or Interactive is required for llama3.1-8b" in lines[0]
    # Interactive alone is enough
    root = make_tree(tmp_path / "alone")
    shutil.rmtree(root / MODEL_DIR / "Server")
    assert not _only(check_tree(root, ROUND, relax_lengths=True), "scenario-missing")


def test_accuracy_under_target_and_length_window(tree: Path) -> None:
    acc = tree / MODEL_DIR / "Server" / "accuracy" / "accuracy.txt"
    acc.write_text(acc.read_text().replace("'rouge2': 16.0034", "'rouge2': 15.1"))
    acc = tree / MODEL_DIR / "Offline" / "accuracy" / "accuracy.txt"
    acc.write_text(acc.read_text().replace("'gen_len': 8190312", "'gen_len': 9100000"))
    report = check_tree(tree, ROUND, relax_lengths=True)
    below = _only(report, "accuracy-below-target")
    assert len(below) == 1 and "Server/accuracy/accuracy.txt: ROUGE2 15.1 is below" in below[0]
    length = _only(report, "accuracy-length")
    assert len(length) == 1
    assert "GEN_LEN 9100000 is outside the allowed generated length [7.35088e+06" in length[0]
    # the open division only warns of accuracy misses, as the official checker
    assert below[0].startswith("WARNING") and length[0].startswith("WARNING")


def test_test06_failure_closed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "closed", "closed")
    model = root / "closed" / SUBMITTER / "results" / SYSTEM / MODEL
    verify = model / "Server" / "TEST06" / "verify_accuracy.txt"
    verify.write_text(
        verify.read_text()
        .replace("First token check pass: True", "First token check pass: False")
        .replace("EOS check pass: True", "EOS check pass: False")
    )
    (model / "Interactive" / "TEST06" / "verify_accuracy.txt").unlink()
    report = check_tree(root, ROUND, relax_lengths=True)
    failed = _only(report, "compliance-failed")
    assert len(failed) == 1
    assert (
        "Server/TEST06/verify_accuracy.txt: TEST06 failed its first-token, EOS checks" in failed[0]
    )
    missing = _only(report, "compliance-files")
    assert len(missing) == 1 and "Interactive/TEST06/verify_accuracy.txt" in missing[0]
    # Offline's "Skipped" first-token check passes
    assert not [f for f in report.findings if "Offline/TEST06" in f.path]
    rows = _results(report)
    assert not rows["Server"].compliance and rows["Offline"].compliance  # type: ignore[attr-defined]


def test_importer_stores_tokens_per_second(tree: Path, tmp_path: Path) -> None:
    from perfpilot.results.db import ResultsDB
    from perfpilot.results.published import import_tree

    with ResultsDB.open(tmp_path / "results.db") as db:
        ids = import_tree(db, tree / "open", ROUND)
        rows = {db.get(i)["scenario"]: db.get(i) for i in ids}
    assert set(rows) == {"Offline", "Server", "Interactive"}  # Interactive is its own row
    assert len(set(ids)) == 3 and all(i.startswith(f"published/{ROUND}/open/") for i in ids)
    assert {r["metric"] for r in rows.values()} == {"tokens_per_second"}
    assert rows["Offline"]["value"] == OFFLINE_TPS
    assert rows["Server"]["value"] == SERVER_TPS
    assert rows["Interactive"]["value"] == INTERACTIVE_TPS
    inter = rows["Interactive"]["provenance"]
    assert inter["units"] == "Tokens/s" and inter["log_scenario"] == "Server"
    assert inter["ttft_p99_ms"] == 420 and inter["tpot_p99_ms"] == 25
    assert rows["Offline"]["provenance"]["ttft_p99_ms"] is None
    assert rows["Offline"]["accuracy"] == pytest.approx(38.9512)  # ROUGE1, not gen_len


def _sample(tokens: list[int], first: list[int], count: int | None = None) -> dict[str, object]:
    import numpy as np

    return {
        "seq_id": 0,
        "qsl_idx": 0,
        "data": np.array(tokens, dtype=np.int32).tobytes().hex().upper(),
        "token_data": np.array(first, dtype=np.int32).tobytes().hex().upper(),
        "token_count": len(tokens) if count is None else count,
    }


def test_test06_verdicts(tmp_path: Path) -> None:
    from perfpilot.submission import test06

    eos = 128009
    good = [_sample([791, 3363, 374, eos], [791]), _sample([40, 1093], [40])]
    verdict = test06.verify(good, "Server", eos, "int32")
    assert verdict.passed and verdict.text().splitlines() == [
        "First token check pass: True",
        "EOS check pass: True",
        "Sample length check pass: True",
        "TEST06 verification complete",
    ]
    # Offline streams no first token: skipped, even if token_data differs
    assert test06.verify([_sample([5, 6], [9])], "Offline", eos, "int32").first_token is None
    assert test06.verify([_sample([5, 6], [9])], "Server", eos, "int32").first_token is False
    padded = test06.verify([_sample([5, eos, eos], [5])], "Server", eos, "int32")
    assert padded.eos is False and not padded.passed
    assert (
        test06.verify([_sample([5, 6, 7], [5], count=5)], "Server", eos, "int32").sample_length
        is False
    )
    # the verdict file reads back as the checker's TEST06 finding
    root = make_tree(tmp_path / "t", "closed")
    model = root / "closed" / SUBMITTER / "results" / SYSTEM / MODEL
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(json.dumps([_sample([5, eos, eos], [5])]))
    test06.write_verdict(test06.verify_log(log, "Server", eos), model / "Server" / "TEST06")
    lines = _only(check_tree(root, ROUND, relax_lengths=True), "compliance-failed")
    assert len(lines) == 1 and "TEST06 failed its EOS check" in lines[0]


def test_test06_placed_as_the_checker_reads_it(tmp_path: Path) -> None:
    from perfpilot.submission import compliance, test06

    run = tmp_path / "run"
    run.mkdir()
    (run / "mlperf_log_accuracy.json").write_text(json.dumps([_sample([5, 6], [5])]))
    verdict = test06.verify_log(run / "mlperf_log_accuracy.json", "Server", 128009)
    test06.write_verdict(verdict, run)
    assert compliance.failed_verifications(run) == []
    placed = compliance.place("TEST06", run, tmp_path / "Server")
    assert sorted(p.relative_to(placed).as_posix() for p in placed.rglob("*") if p.is_file()) == [
        "accuracy/mlperf_log_accuracy.json",
        "verify_accuracy.txt",
    ]


def test_endpoints_result_is_read(tree: Path) -> None:
    # without LoadGen logs, Endpoints files make an Endpoints result (checked as such in
    # test_submission_endpoints); with a LoadGen log beside them, the checker wants LoadGen
    offline = tree / MODEL_DIR / "Offline"
    shutil.rmtree(offline / "performance" / "run_1")
    (offline / "performance" / "result_summary.json").write_text("{}")
    lines = _only(check_tree(tree, ROUND, relax_lengths=True), "missing-file")
    assert len(lines) == 1 and "Offline/performance/run_1: folder is missing" in lines[0]
    (offline / "accuracy" / "mlperf_log_detail.txt").unlink()
    report = check_tree(tree, ROUND, relax_lengths=True)
    assert not _only(report, "perf-unreadable")
    assert (
        "config.yaml of the Endpoints run is missing" in _only(report, "endpoints-file-missing")[0]
    )


def test_v51_layout_tree_and_its_units(tmp_path: Path) -> None:
    """Round v5.1 (code/, measurements/, compliance/): the same result passes; the
    summary writes v5.1's units (Queries/s for llama3.1-8b Interactive) and inferred 0,
    as that round's checker; an Interactive TPOT over 30 ms fails."""
    root = make_tree(tmp_path / "v51", layout="v4")
    report = check_tree(root, "v5.1", relax_lengths=True)
    assert report.ok, [f.line() for f in report.errors]
    csv = {r["Scenario"]: r for r in read_csv_rows(report.csv_text())}
    assert csv["Interactive"]["Units"] == "Queries/s" and csv["Interactive"]["inferred"] == "0"
    assert csv["Interactive"]["Result"] == repr(INTERACTIVE_TPS)
    assert csv["Server"]["Units"] == "Tokens/s"
    # since v5.0 the checker prints its dict of the target metrics
    assert csv["Offline"]["Accuracy"] == (
        "ROUGE1: 38.9512  ROUGE2: 16.0034  ROUGEL: 24.6001  ROUGELSUM: 35.9123  GEN_LEN: 8190312"
    )
    detail = root / MODEL_DIR / "Interactive" / "performance" / "run_1" / "mlperf_log_detail.txt"
    _set(detail, "result_time_per_output_token_99.00_percentile_ns", 30_000_000)
    lines = _only(check_tree(root, "v5.1", relax_lengths=True), "perf-token-latency")
    assert len(lines) == 1 and "Interactive p99 TPOT 30 ms is not under the bound 30 ms" in lines[0]


def test_what_published_llm_trees_taught(tmp_path: Path) -> None:
    """Found on published v5.1 trees, as the official checker takes them: a lowercase
    scenario folder keeps its name in Location, a trace may sit in the accuracy folder,
    and an accuracy log truncated with CRLF line ends counts as truncated."""
    root = make_tree(tmp_path / "t", layout="v4")
    model = root / MODEL_DIR
    (model / "Offline").rename(model / "offline")
    meas = root / "open" / SUBMITTER / "measurements" / SYSTEM / MODEL
    (meas / "Offline").rename(meas / "offline")
    (meas / "offline" / f"{SYSTEM}_Offline.json").rename(
        meas / "offline" / f"{SYSTEM}_offline.json"
    )
    acc = model / "Server" / "accuracy"
    (acc / "mlperf_log_trace.json").write_text("[]\n")
    # a log cut on Windows: first part, CRLF cut, last part (not the hashed bytes)
    (acc / "mlperf_log_accuracy.json").write_bytes(b"[\r\n{}" + b"\r\n\r\n...\r\n\r\n" + b"{}\r\n]")
    report = check_tree(root, "v5.1", relax_lengths=True)
    assert report.ok, [f.line() for f in report.errors]
    rows = {r["Scenario"]: r for r in read_csv_rows(report.csv_text())}
    assert rows["Offline"]["Location"].endswith(f"/{MODEL}/offline")
    # the same log cut with LF ends but a wrong hash is still caught once untruncated
    (acc / "mlperf_log_accuracy.json").write_bytes(b"[\n{}\n]\n")
    lines = _only(check_tree(root, "v5.1", relax_lengths=True), "accuracy-hash-bad")
    assert len(lines) == 1 and "Server/accuracy/accuracy.txt" in lines[0]
