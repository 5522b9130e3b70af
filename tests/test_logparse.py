from pathlib import Path

import pytest

from perfpilot.engine.logparse import parse_result, read_detail, read_summary
from perfpilot.errors import UsageError
from tests.conftest import FIXTURE_RESULTS, needs_fixture

pytestmark = needs_fixture


def test_official_offline_log_is_valid_with_its_metric() -> None:
    result = parse_result(FIXTURE_RESULTS / "Offline" / "performance" / "run_1")
    assert result.scenario == "Offline"
    assert result.valid is True
    assert result.invalid_reasons == []
    assert result.metric == pytest.approx(25204.5)
    assert result.metric_unit == "samples/s"
    assert result.sample_count == 16599000
    assert result.seeds["qsl_rng_seed"] == 3066443479025735752
    assert result.latency_ns["p99"] == 652036618944
    assert result.loadgen_version == "4.1 @ 2ed9555be0"


def test_official_server_log_is_valid_with_completed_qps() -> None:
    result = parse_result(FIXTURE_RESULTS / "Server" / "performance" / "run_1")
    assert result.scenario == "Server"
    assert result.valid is True
    assert result.metric == pytest.approx(22501.8)
    assert result.metric_name == "result_completed_samples_per_sec"
    assert result.latency_ns["p99"] == 14809492
    assert result.query_count == 13503507
    assert any("Logging allocation" in w for w in result.warnings)


def test_accuracy_log_has_no_validity() -> None:
    result = parse_result(FIXTURE_RESULTS / "Offline" / "accuracy")
    assert result.test_mode == "AccuracyOnly"
    assert result.valid is None
    assert result.metric is None


def test_summary_reader_reads_the_fixture() -> None:
    summary = read_summary(
        FIXTURE_RESULTS / "Server" / "performance" / "run_1" / "mlperf_log_summary.txt"
    )
    assert summary["Result is"] == "VALID"
    assert summary["Scenario"] == "Server"


def _copy_detail(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    src = FIXTURE_RESULTS / "Offline" / "performance" / "run_1" / "mlperf_log_detail.txt"
    lines = src.read_text().splitlines()
    (tmp_path / "mlperf_log_detail.txt").write_text("\n".join(mutate(lines)) + "\n")
    return tmp_path


def test_invalid_run_lists_its_reasons(tmp_path: Path) -> None:
    def flip(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            line = line.replace('"value": "VALID"', '"value": "INVALID"')
            if '"key": "result_min_duration_met"' in line:
                line = line.replace('"value": true', '"value": false')
            out.append(line)
        return out

    result = parse_result(_copy_detail(tmp_path, flip))
    assert result.valid is False
    assert "min duration not met" in result.invalid_reasons


def test_cut_last_line_is_tolerated_but_damage_inside_is_an_error(tmp_path: Path) -> None:
    parse_result(_copy_detail(tmp_path, lambda lines: [*lines, lines[-1][:40]]))
    damaged = _copy_detail(tmp_path, lambda lines: [lines[0], lines[1][:30], *lines[2:]])
    with pytest.raises(UsageError, match=r"mlperf_log_detail.txt:2: not a valid MLLOG record"):
        read_detail(damaged / "mlperf_log_detail.txt")


def test_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no LoadGen detail log"):
        parse_result(tmp_path)


def _mllog(key: str, value: object) -> str:
    import json

    return ":::MLLOG " + json.dumps({"key": key, "value": value, "metadata": {}}) + "\n"


def test_a_settled_detail_log_is_parsed_again_once_rewritten(tmp_path: Path) -> None:
    """read_detail keeps what it parsed, but never past a change of the file, even one
    that keeps its size (a seed of as many digits)."""
    import os

    log = tmp_path / "mlperf_log_detail.txt"
    log.write_text(_mllog("effective_qsl_rng_seed", 1111))
    os.utime(log, (1_000_000_000, 1_000_000_000))  # settled: may be cached
    assert read_detail(log).get("effective_qsl_rng_seed") == 1111
    assert read_detail(log).get("effective_qsl_rng_seed") == 1111
    log.write_text(_mllog("effective_qsl_rng_seed", 2222))
    assert read_detail(log).get("effective_qsl_rng_seed") == 2222  # fresh: parsed
    os.utime(log, (1_000_000_001, 1_000_000_001))
    assert read_detail(log).get("effective_qsl_rng_seed") == 2222


def test_the_loaded_sample_list_is_not_decoded(tmp_path: Path) -> None:
    log = tmp_path / "mlperf_log_detail.txt"
    log.write_text(_mllog("loaded_qsl_set", list(range(50))) + _mllog("result_validity", "VALID"))
    detail = read_detail(log)
    assert detail.get("result_validity") == "VALID"
    assert "loaded_qsl_set" not in detail.values


def test_a_line_of_two_records_is_an_error_though_the_rest_reads_as_one_array(
    tmp_path: Path,
) -> None:
    """The records are decoded as one JSON array; a line that holds two objects would fit
    in that array, but is damage, found as the line-by-line reading finds it."""
    log = tmp_path / "mlperf_log_detail.txt"
    two = _mllog("a", 1).rstrip("\n") + ", " + _mllog("b", 2)[len(":::MLLOG ") :]
    log.write_text(_mllog("result_validity", "VALID") + two + _mllog("c", 3))
    with pytest.raises(UsageError, match=r"mlperf_log_detail.txt:2: not a valid MLLOG record"):
        read_detail(log)


def test_errors_and_warnings_of_the_records_are_kept_in_order(tmp_path: Path) -> None:
    import json

    log = tmp_path / "mlperf_log_detail.txt"
    lines = [
        {"key": "error_invalid_config", "value": "bad", "metadata": {"is_error": True}},
        {"key": "result_validity", "value": "VALID", "metadata": {}},
        {"key": "warning_generic_message", "value": "w1", "metadata": {"is_warning": True}},
        {"key": "result_validity", "value": "INVALID", "metadata": {}},
    ]
    log.write_text("".join(":::MLLOG " + json.dumps(r) + "\n" for r in lines) + "other text\n")
    detail = read_detail(log)
    assert detail.errors == ["error_invalid_config: bad"]
    assert detail.warnings == ["warning_generic_message: w1"]
    assert detail.get("result_validity") == "INVALID"  # the last value of a key
