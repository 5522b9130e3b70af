"""Settings resolution: explicit options win, the rest is calibrated; `valid` keeps
mlperf.conf's durations. Uses the null backend (no LoadGen, no model)."""

from __future__ import annotations

import pytest

from perfpilot.backends import BackendConfig, create_backend
from perfpilot.config import build_run_configs
from perfpilot.engine.calibrate import HARNESS_SAMPLE_COST_S, OFFLINE_HEADROOM, resolve_settings
from perfpilot.engine.prepare import resolve_config
from perfpilot.tasks.digits.dataset import DigitsDataset


@pytest.fixture(scope="module")
def null_backend():  # type: ignore[no-untyped-def]
    backend = create_backend("null", BackendConfig(output_shape=(10,)))
    backend.load(None)
    return backend


def _resolve(null_backend, scenario: str, mode: str = "performance", **options: object):  # type: ignore[no-untyped-def]
    cfg = resolve_config(build_run_configs(scenario, mode, backend="null", **options)[0])
    return resolve_settings(cfg, null_backend, DigitsDataset())


def test_test_mode_is_short_and_calibrated(null_backend) -> None:  # type: ignore[no-untyped-def]
    settings, calibration = _resolve(null_backend, "Offline")
    assert settings.min_duration_ms == 1000 and settings.min_query_count == 1
    assert calibration.batch_throughput is not None
    # headroom over the measured throughput, which includes the harness's cost
    headroom = OFFLINE_HEADROOM["test"]
    assert settings.target_qps == pytest.approx(headroom * calibration.batch_throughput)
    # the null backend's speed does not run away: the harness's cost bounds it
    assert settings.target_qps <= headroom / HARNESS_SAMPLE_COST_S


def test_valid_mode_leaves_official_durations(null_backend) -> None:  # type: ignore[no-untyped-def]
    settings, _ = _resolve(null_backend, "SingleStream", execution="valid")
    assert settings.min_duration_ms is None and settings.min_query_count is None
    assert settings.target_latency_ms is not None and settings.target_latency_ms > 0
    assert "min_duration" not in settings.user_conf("digits-cnn")


def test_explicit_values_are_not_recalibrated(null_backend) -> None:  # type: ignore[no-untyped-def]
    settings, calibration = _resolve(
        null_backend, "Server", target_qps=123.0, min_duration_ms=2500, min_query_count=42
    )
    assert (settings.target_qps, settings.min_duration_ms, settings.min_query_count) == (
        123.0,
        2500,
        42,
    )
    assert calibration.batch_throughput is None
    ms, _ = _resolve(null_backend, "MultiStream", target_latency_ms=4.5, samples_per_query=4)
    assert (ms.target_latency_ms, ms.samples_per_query) == (4.5, 4)


def test_accuracy_runs_calibrate_only_server(null_backend) -> None:  # type: ignore[no-untyped-def]
    offline, _ = _resolve(null_backend, "Offline", mode="accuracy")
    server, _ = _resolve(null_backend, "Server", mode="accuracy")
    assert offline.target_qps is None
    assert server.target_qps is not None and server.target_qps > 100


def test_machine_defaults_are_resolved() -> None:
    offline = resolve_config(build_run_configs("Offline", "performance")[0])
    single = resolve_config(build_run_configs("SingleStream", "performance")[0])
    assert offline.threads is not None and offline.backend_threads is not None
    assert single.threads == 1
    assert single.backend_threads == offline.threads * offline.backend_threads


class _ColdPerThread:
    """Wraps the null backend: the first predict on each thread sleeps, as a tflite
    interpreter or an XNNPACK weight packing does on first use."""

    def __init__(self, inner, cold_s: float) -> None:  # type: ignore[no-untyped-def]
        import threading

        self.inner, self.cold_s, self.local = inner, cold_s, threading.local()

    def predict(self, batch):  # type: ignore[no-untyped-def]
        import time

        if not getattr(self.local, "warm", False):
            self.local.warm = True
            time.sleep(self.cold_s)
        else:
            time.sleep(0.01)
        return self.inner.predict(batch)


def test_throughput_leaves_out_each_threads_first_call(null_backend) -> None:  # type: ignore[no-untyped-def]
    from perfpilot.engine.calibrate import measure_throughput

    cold = _ColdPerThread(null_backend, cold_s=0.4)
    rate = measure_throughput(cold, DigitsDataset(), 4, 2, 0.3)  # type: ignore[arg-type]
    # Warm: 2 threads x 4 samples / 10 ms = 800/s. Counting the 0.4 s first call in a
    # 0.3 s window would give well under half of that.
    assert rate > 400


def test_stream_targets_ask_for_more_queries_than_measured(null_backend) -> None:  # type: ignore[no-untyped-def]
    from perfpilot.engine.calibrate import STREAM_LATENCY_FACTOR

    # LoadGen generates min_duration / target_latency queries: a target above the run's
    # real latency runs out of queries before the minimum duration.
    settings, calibration = _resolve(null_backend, "SingleStream", execution="valid")
    assert STREAM_LATENCY_FACTOR < 1
    assert calibration.latency_ms is not None and settings.target_latency_ms is not None
    assert settings.target_latency_ms <= calibration.latency_ms * STREAM_LATENCY_FACTOR
