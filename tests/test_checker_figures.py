"""The checker's and the importer's figures equal the official checker's: latencies
divided by 1e6, MultiStream inferred from the SingleStream early-stopping p99 estimate,
power results (their logs checked, their figure as a second CSV row), and an import that
takes what is sound and names what it skips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from perfpilot.engine.logparse import parse_result
from perfpilot.results.db import ResultsDB
from perfpilot.results.published import import_tree_report, read_accuracy
from perfpilot.submission.check import check_tree, read_csv_rows
from perfpilot.submission.check.performance import inferred_result
from perfpilot.submission.check.power import power_figure
from tests.conftest import FIXTURE_RESULTS, needs_fixture
from tests.test_submission_check import RES, copy_tree, set_detail

pytestmark = needs_fixture

OFFLINE_RUN = FIXTURE_RESULTS / "Offline" / "performance" / "run_1"
POWER_SESSION = (
    Path(__file__).parent
    / "data/conformance/v4.1/closed_UntetherAI/tree/closed/UntetherAI/results"
    / "h13_u3_slim/resnet50/offline/performance"
)


def _mllog(key: str, value: object) -> str:
    record = {
        "key": key,
        "value": value,
        "time_ms": 1.0,
        "namespace": "mlperf::logging",
        "event_type": "POINT_IN_TIME",
        "metadata": {"is_error": False, "is_warning": False, "file": "x.cc", "line_no": 1},
    }
    return ":::MLLOG " + json.dumps(record)


def _add_detail(path: Path, **values: object) -> None:
    with path.open("a") as f:
        for key, value in values.items():
            f.write(_mllog(key, value) + "\n")


def _singlestream_run(folder: Path) -> Path:
    """The fixture's Offline run relabelled as a SingleStream run with the figures of a
    published v5.1 one (GATEOverflow resnet50: 7.627156 ms, p99 estimate 7836918 ns)."""
    folder.mkdir(parents=True)
    detail = folder / "mlperf_log_detail.txt"
    detail.write_text((OFFLINE_RUN / "mlperf_log_detail.txt").read_text())
    set_detail(detail, "effective_scenario", "SingleStream")
    _add_detail(detail, early_stopping_latency_ss=7627156, early_stopping_latency_ms=7836918)
    (folder / "mlperf_log_summary.txt").write_text(
        (OFFLINE_RUN / "mlperf_log_summary.txt").read_text()
    )
    return folder


def test_latency_is_divided_by_1e6_as_the_official_checker(tmp_path: Path) -> None:
    result = parse_result(_singlestream_run(tmp_path / "run_1"))
    assert result.scenario == "SingleStream"
    assert repr(result.metric) == "7.627156"  # not 7.627155999999999


def test_multistream_inferred_is_the_p99_estimate_times_8(tmp_path: Path) -> None:
    run = _singlestream_run(tmp_path / "run_1")
    entry = SimpleNamespace(scenario="MultiStream", performance_dir=run)
    value, inferred = inferred_result(entry, parse_result(run))  # type: ignore[arg-type]
    assert inferred is True
    assert repr(value) == "62.695344"  # the official figure; the p90 x 8 gave 61.02


def _spl(begin_s: int, watts: list[float]) -> str:
    lines = ["Ranging ignored,01-01-2024 10:00:00.000,Watts,999"]
    for i, w in enumerate(watts):
        lines.append(f"Time,01-01-2024 10:00:{begin_s + i:02d}.500,Watts,{w},Volts,230")
    return "\n".join(lines) + "\n"


def _make_power(scen: Path) -> None:
    """A real power result in place of the Offline one: the performance/ folder (runs,
    spl.txt and PTD session) of UntetherAI's v4.1 Offline resnet50 power submission."""
    shutil.rmtree(scen / "performance")
    shutil.copytree(POWER_SESSION, scen / "performance")


def test_power_figure_of_spl_samples(tmp_path: Path) -> None:
    run = tmp_path / "run_1"
    run.mkdir()
    (run / "mlperf_log_detail.txt").write_text((OFFLINE_RUN / "mlperf_log_detail.txt").read_text())
    _add_detail(
        run / "mlperf_log_detail.txt",
        power_begin="01-01-2024 10:00:01.000",
        power_end="01-01-2024 10:00:05.000",
    )
    (run / "spl.txt").write_text(_spl(0, [90.0, 100.0, 110.0, 120.0, 130.0, 0.0, 500.0]))
    offline = power_figure(run, "Offline")
    assert not isinstance(offline, str)
    # samples strictly inside (10:00:01, 10:00:05): 100, 110, 120, 130
    assert offline.watts == pytest.approx(115.0) and offline.units == "Watts"
    single = power_figure(run, "SingleStream")
    assert not isinstance(single, str)
    # mJ per query: W x 4 s x 1000 / result_query_count (1 in this log)
    assert single.metric == pytest.approx(115.0 * 4 * 1000) and single.units == "millijoules"
    (run / "spl.txt").write_text(_spl(30, [100.0]))
    assert "no power samples" in str(power_figure(run, "Offline"))


def test_power_result_passes_and_gets_its_power_row(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    _make_power(tree / RES / "Offline")
    report = check_tree(tree)
    assert report.ok, [f.line() for f in report.errors]
    offline = next(r for r in report.results if r.scenario == "Offline")
    # the figures of the official checker's CSV for that result (tests/data/conformance)
    assert offline.power == 398.32998477930016 and offline.power_units == "Watts"
    rows = [r for r in read_csv_rows(report.csv_text()) if r["Scenario"] == "Offline"]
    assert [r["Units"] for r in rows] == ["Samples/s", "Watts"]
    assert [r["Result"] for r in rows] == ["168720.0", "398.32998477930016"]
    assert {r["has_power"] for r in rows} == {"True"}

    # a log changed after the session: the power WG check fails, no row is written
    spl = tree / RES / "Offline" / "performance" / "run_1" / "spl.txt"
    spl.write_text(spl.read_text() + "Time,01-01-2024 10:00:02.000,Watts,1,Volts,230\n")
    report = check_tree(tree)
    assert any(f.rule == "power-checksum" for f in report.errors)
    assert not any(r["Scenario"] == "Offline" for r in read_csv_rows(report.csv_text()))


def test_spl_without_a_power_folder_is_a_stray_file(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    (tree / RES / "Offline" / "performance" / "run_1" / "spl.txt").write_text("x\n")
    report = check_tree(tree)
    assert [f.rule for f in report.errors] == ["stray-file"]


def test_import_takes_what_is_sound_and_names_the_rest(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    (tree / RES / "Server" / "performance" / "run_1" / "mlperf_log_detail.txt").unlink()
    _make_power(tree / RES / "Offline")
    with ResultsDB.open(tmp_path / "r.sqlite") as db:
        report = import_tree_report(db, tree)
        rows = db.rows(ids=report.ids)
    assert len(rows) == 1 and rows[0]["scenario"] == "Offline"
    row = rows[0]
    assert row["round"] == "v4.1"  # from the logs' seeds (no version in the path)
    assert row["value"] == 168720.0 and row["accuracy"] == 75.73
    assert row["provenance"]["accuracy_text"] == "75.730"
    assert row["provenance"]["power"]["units"] == "Watts"
    assert row["provenance"]["power"]["value"] == 398.32998477930016
    ((where, why),) = report.skipped
    assert where.endswith("resnet50/Server") and "mlperf_log_detail.txt is missing" in why


def test_whisper_accuracy_not_its_wer(tmp_path: Path) -> None:
    path = tmp_path / "accuracy.txt"
    path.write_text("Word Error Rate: 2.0466%, accuracy=97.9534%\nhash=ab\n")
    assert read_accuracy(path)[0] == 97.9534


def test_design_power_sums_the_needed_psus() -> None:
    """v6.1's nameplate YAML: per component the largest ``Min PSUs Needed`` PSUs."""
    from perfpilot.submission.check.csv_formats import _psu_watts

    nameplate = {
        "Node": {
            "Chassis": {
                "PSUs": [{"PowerCapacityWatts": 3000}, {"PowerCapacityWatts": 2000}] * 2,
                "Min PSUs Needed": 3,
            },
            "Switch": [{"PSUs": [{"PowerCapacityWatts": 500}], "Min PSUs Needed": 1}],
        }
    }
    assert _psu_watts(nameplate) == 3000 + 3000 + 2000 + 500


def test_ptd_time_reads_as_strptime_does() -> None:
    """The fast reading of PTD's timestamps gives strptime's datetime (as UTC), or None
    where strptime raises ValueError."""
    from datetime import datetime, timezone

    from perfpilot.submission.check.power_phases import TIME_FORMAT, parse_time

    cases = [
        "07-25-2025 15:27:44.482",
        "01-01-2024 00:00:00.0",
        "12-31-1999 23:59:59.999999",
        "02-29-2024 10:00:01.000",
        "02-29-2023 10:00:01.000",  # no such day
        "13-01-2024 10:00:01.000",
        "00-01-2024 10:00:01.000",
        "01-00-2024 10:00:01.000",
        "01-01-2024 24:00:00.000",
        "01-01-2024 10:60:00.000",
        "01-01-2024 10:00:60.000",
        "01-01-2024 10:00:61.000",
        "1-1-2024 1:2:3.4",  # strptime's shorter forms
        "01-01-2024  10:00:01.000",
        "01-01-2024 10:00:01.1234567",
        "01-01-2024 10:00:01",
        "01-01-2024 10:00:01.000 ",
        "",
    ]
    for text in cases:
        try:
            expected: datetime | None = datetime.strptime(text, TIME_FORMAT).replace(
                tzinfo=timezone.utc
            )
        except ValueError:
            expected = None
        assert parse_time(text) == expected, text
