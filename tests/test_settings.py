import subprocess
import sys
from pathlib import Path

from perfpilot.engine.settings import LoadgenSettings


def test_user_conf_has_only_the_resolved_keys() -> None:
    settings = LoadgenSettings(
        scenario="Offline",
        mode="performance",
        target_qps=12345.678,
        min_duration_ms=1000,
        min_query_count=1,
    )
    text = settings.user_conf("digits-cnn")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "digits-cnn.Offline.target_qps = 12345.678",
        "digits-cnn.Offline.min_duration = 1000",
        "digits-cnn.Offline.min_query_count = 1",
    ]


def test_valid_mode_settings_leave_durations_to_mlperf_conf() -> None:
    text = LoadgenSettings(
        scenario="SingleStream", mode="performance", target_latency_ms=0.0625
    ).user_conf("digits-cnn")
    assert "min_duration" not in text and "min_query_count" not in text
    assert "digits-cnn.SingleStream.target_latency = 0.0625" in text


LOADGEN_READS = """
import sys, mlperf_loadgen as lg
s = lg.TestSettings()
rc = s.FromConfig(sys.argv[1], "digits-cnn", sys.argv[2], 1)
print(rc, s.offline_expected_qps, s.single_stream_expected_latency_ns, s.min_duration_ms,
      s.min_query_count, s.server_target_latency_ns, s.qsl_rng_seed)
"""


def _loadgen_reads(conf: Path, scenario: str) -> list[str]:
    # Each in its own process: LoadGen applies its built-in mlperf.conf once per process.
    out = subprocess.run(
        [sys.executable, "-c", LOADGEN_READS, str(conf), scenario],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_loadgen_reads_our_user_conf_on_top_of_its_builtin_conf(tmp_path: Path) -> None:
    conf = tmp_path / "user.conf"
    conf.write_text(
        LoadgenSettings(
            scenario="Offline",
            mode="performance",
            target_qps=2500.5,
            min_duration_ms=1500,
            min_query_count=7,
        ).user_conf("digits-cnn")
    )
    rc, qps, _, min_dur, min_q, server_lat, seed = _loadgen_reads(conf, "Offline")
    assert rc == "0"
    assert float(qps) == 2500.5
    assert (min_dur, min_q) == ("1500", "7")
    assert server_lat == "10000000"  # *.Server.target_latency = 10 from the built-in conf
    assert seed == "2085463073848966840"  # the built-in v6.1 seeds stay in force

    conf.write_text(
        LoadgenSettings(
            scenario="SingleStream", mode="performance", target_latency_ms=0.25
        ).user_conf("digits-cnn")
    )
    rc, _, latency_ns, min_dur, *_ = _loadgen_reads(conf, "SingleStream")
    assert (rc, float(latency_ns), min_dur) == ("0", 250000.0, "600000")


def test_loadgen_reports_a_missing_conf(tmp_path: Path) -> None:
    rc = _loadgen_reads(tmp_path / "absent.conf", "Offline")[0]
    assert rc != "0"


def test_expected_duration_counts_queries_not_only_the_minimum_duration() -> None:
    from perfpilot.engine.settings import expected_duration_s

    def s(scenario: str, **kw: float) -> LoadgenSettings:
        return LoadgenSettings(scenario=scenario, mode="performance", **kw)  # type: ignore[arg-type]

    # test length, MultiStream: 662 queries of 0.3 s each, not the 1 s minimum duration
    ms = s("MultiStream", min_duration_ms=1000, min_query_count=662, target_latency_ms=150.0)
    assert expected_duration_s(ms, query_s=0.3) == 662 * 0.3
    assert expected_duration_s(ms) == 662 * 0.15  # no measurement: the expected latency
    # mlperf.conf's 662 applies where user.conf leaves the count (valid length)
    assert expected_duration_s(s("MultiStream"), query_s=2.0) == 662 * 2.0
    assert expected_duration_s(s("MultiStream"), query_s=0.1) == 600.0
    # SingleStream: LoadGen's default of 100 queries
    assert expected_duration_s(s("SingleStream", min_duration_ms=1000), query_s=0.05) == 5.0
    assert expected_duration_s(s("SingleStream", min_duration_ms=1000), query_s=0.001) == 1.0
    # Server: the count at the target QPS
    srv = s("Server", min_duration_ms=1000, min_query_count=100, target_qps=20.0)
    assert expected_duration_s(srv) == 5.0
    # Offline: the duration, stretched when the target outruns the throughput
    off = s("Offline", min_duration_ms=1000, target_qps=200.0)
    assert expected_duration_s(off, throughput=100.0) == 1.1 * 2.0
    assert expected_duration_s(s("Offline", min_duration_ms=1000)) == 1.0
    # accuracy runs are sized by the dataset elsewhere
    acc = LoadgenSettings(scenario="SingleStream", mode="accuracy")
    assert expected_duration_s(acc, query_s=1.0) == 0.0
