"""Quick calibration: measure this machine so the expected QPS / latency given to
LoadGen fit it. LoadGen sizes a run from these values and never extends it, so a guess
that is too low for Offline ends in "min duration not met"."""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from perfpilot.backends.base import Backend
from perfpilot.config.run import RunConfig
from perfpilot.engine.settings import (
    SERVER_LIKE,
    TEST_MIN_DURATION_MS,
    LoadgenSettings,
    test_min_query_count,
)
from perfpilot.tasks.spec import Dataset

# Offline: ask LoadGen for this much more than measured, so a run that warms up, or
# finds the machine quieter than calibration did, still lasts the minimum duration (test
# runs: more, since their 0.5 s calibration is the more easily caught in a busy moment).
OFFLINE_HEADROOM = {"test": 2.0, "valid": 1.5}
# SingleStream / MultiStream: LoadGen generates min_duration / target_latency queries up
# front and ends the run INVALID ("ran out of generated queries") if they finish before
# the minimum duration, which a machine busier during calibration than during the run
# causes. Asking for half the fastest latency seen generates twice enough; the run still
# stops at the minimum duration, and the target does not enter the reported result.
STREAM_LATENCY_FACTOR = 0.5
# Server: a load this far below the measured capacity keeps queues short, so the run is
# VALID; `perfpilot tune` finds the highest VALID value.
SERVER_LOAD_FACTOR = 0.5
# The harness's own cost per sample (gather, response, LoadGen's completion), measured
# with the null backend on a 2-core machine (0.46 us, docs/performance.md), rounded up.
# It keeps a backend that costs nothing (null) from asking LoadGen for an absurd number
# of samples, and near what the harness really completes (else Offline ends too soon).
HARNESS_SAMPLE_COST_S = 0.5e-6
# A guess of the Python cost of one Server query (queue hand-off, completion).
SERVER_QUERY_OVERHEAD_S = 40e-6


@dataclass(frozen=True)
class Calibration:
    """What calibration measured (kept in run.json)."""

    seconds: float
    batch_throughput: float | None = None  # samples/s with batch_size on `threads` workers
    latency_ms: float | None = None  # fastest latency of one query's batch seen

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def _batches(dataset: Dataset, size: int, count: int) -> list[np.ndarray]:
    n = dataset.total_count
    out = []
    for k in range(count):
        idx = (np.arange(size) + k * size) % n
        out.append(np.ascontiguousarray(dataset.samples(idx)))
    return out


def measure_throughput(
    backend: Backend, dataset: Dataset, batch_size: int, threads: int, seconds: float
) -> float:
    """Samples/s of ``threads`` workers each predicting full batches for ``seconds``.

    Each worker first predicts one batch untimed: a backend may set up per-thread state
    on first use (tflite builds another interpreter, XNNPACK packs weights), and counting
    that would underestimate a warm run and leave Offline short of its minimum duration.
    """
    batches = _batches(dataset, batch_size, max(threads, 2))
    counts = [0] * threads
    stop = threading.Event()
    ready = threading.Barrier(threads + 1)

    def work(slot: int) -> None:
        batch = batches[slot % len(batches)]
        try:
            backend.predict(batch)
        finally:
            ready.wait()
        while not stop.is_set():
            backend.predict(batch)
            counts[slot] += len(batch)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    ready.wait()
    start = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def measure_latency(
    backend: Backend, dataset: Dataset, size: int, seconds: float, fastest: bool = False
) -> float:
    """Median (or with ``fastest``, the least) seconds of one ``predict`` of ``size``
    samples (at most ~``seconds`` spent)."""
    batch = _batches(dataset, size, 1)[0]
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 2000):
        t0 = time.perf_counter()
        backend.predict(batch)
        times.append(time.perf_counter() - t0)
    return min(times) if fastest else statistics.median(times)


def expected_calibration_s(cfg: RunConfig, predict_s: float, warm_size: int) -> float:
    """Roughly how long :func:`resolve_settings` will take, from the warm-up's time of one
    ``predict`` of ``warm_size`` samples (the batch calibration uses too): what the
    measurements below do at the least (a slow model's few predictions, else their budget)."""
    scen = cfg.scenario
    if not (cfg.mode == "performance" or scen in SERVER_LIKE):
        return 0.0
    seconds = 0.5 if cfg.execution == "test" else 2.0
    estimate = 0.0
    if scen in ("Offline", *SERVER_LIKE) and cfg.target_qps is None:
        threads = cfg.threads or 1
        # workers share the cores: each batch takes longer when there are more of them
        busy = predict_s * max(1.0, threads / (os.cpu_count() or 1))
        estimate += busy + max(seconds, busy)  # an untimed batch, then the timed loop
        if scen in SERVER_LIKE:
            estimate += _latency_s(predict_s / max(warm_size, 1), seconds / 2)
    if scen in ("SingleStream", "MultiStream") and cfg.target_latency_ms is None:
        estimate += _latency_s(predict_s, seconds)
    return estimate


def _latency_s(predict_s: float, seconds: float) -> float:
    """What :func:`measure_latency` spends: five predictions at least, then until its
    budget or its 2000th."""
    return max(5 * predict_s, min(seconds, 2000 * predict_s))


def resolve_settings(
    cfg: RunConfig, backend: Backend, dataset: Dataset, tokens: bool = False
) -> tuple[LoadgenSettings, Calibration]:
    """The LoadGen settings for ``cfg``: explicit options win; missing expected values are
    calibrated; ``test`` execution mode shortens the run (``tokens``: a token run, whose
    early stopping wants more queries)."""
    start = time.perf_counter()
    scen = cfg.scenario
    short = cfg.execution == "test"
    spq = cfg.samples_per_query if scen == "MultiStream" else None
    target_qps = cfg.target_qps if scen in ("Offline", *SERVER_LIKE) else None
    target_latency = cfg.target_latency_ms if scen in ("SingleStream", "MultiStream") else None
    throughput = latency = None
    # Accuracy runs need calibration only for Server, where LoadGen issues the dataset on
    # its schedule: at mlperf.conf's default of 1 QPS, 360 samples would take 6 minutes.
    if cfg.mode == "performance" or scen in SERVER_LIKE:
        seconds = 0.5 if short else 2.0
        if scen in ("Offline", *SERVER_LIKE) and target_qps is None:
            raw = measure_throughput(backend, dataset, cfg.batch_size, cfg.threads or 1, seconds)
            throughput = 1.0 / (1.0 / raw + HARNESS_SAMPLE_COST_S)
            if scen == "Offline":
                target_qps = throughput * OFFLINE_HEADROOM[cfg.execution]
            else:
                single = measure_latency(backend, dataset, 1, seconds / 2)
                per_query = 1.0 / (single + SERVER_QUERY_OVERHEAD_S)
                target_qps = SERVER_LOAD_FACTOR * min(throughput, per_query * (cfg.threads or 1))
        if scen in ("SingleStream", "MultiStream") and target_latency is None:
            size = 1 if scen == "SingleStream" else (spq or 8)
            latency = measure_latency(backend, dataset, size, seconds, fastest=True)
            target_latency = latency * 1000.0 * STREAM_LATENCY_FACTOR
    settings = LoadgenSettings(
        scenario=scen,
        mode=cfg.mode,
        target_qps=target_qps,
        target_latency_ms=target_latency,
        min_duration_ms=cfg.min_duration_ms or (TEST_MIN_DURATION_MS if short else None),
        min_query_count=cfg.min_query_count
        or (test_min_query_count(scen, tokens) if short else None),
        samples_per_query=spq,
    )
    calibration = Calibration(
        seconds=round(time.perf_counter() - start, 3),
        batch_throughput=throughput,
        latency_ms=None if latency is None else latency * 1000.0,
    )
    return settings, calibration
