"""Entry point of the child process that runs exactly one LoadGen test.

``python -m perfpilot.engine.child SPEC.json`` with the run directory as working
directory. LoadGen applies its built-in mlperf.conf once per process, so every test gets
a fresh process. The child writes ``child_result.json`` (ok, or the error and its
traceback) and the parent reads it after the child exits.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from perfpilot.artifacts import atomic_write_text
from perfpilot.errors import PerfpilotError

RESULT_FILE = "child_result.json"
PROGRESS_FILE = "progress.json"
USER_CONF = "user.conf"


def _write_result(run_dir: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(run_dir / RESULT_FILE, json.dumps(payload, indent=2) + "\n")


def _error_payload(err: BaseException, phase: str) -> dict[str, Any]:
    message = err.one_line() if isinstance(err, PerfpilotError) else f"{type(err).__name__}: {err}"
    return {
        "status": "failed",
        "phase": phase,
        "error": message,
        "traceback": "".join(traceback.format_exception(err)),
    }


class GcPauses:
    """Python's garbage-collector pauses while LoadGen runs: collections per generation,
    their total and longest time (a collection stops every Python thread of the harness).
    Measured, not tuned: digits-cnn Server runs at 12,800 QPS for 3 s saw no collection at
    all (the harness's lists are freed as soon as made), so a Server p99 that varies
    from run to run at one load is not the collector's doing."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.total_ns = 0
        self.max_ns = 0
        self._began = 0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter_ns()
        if phase == "start":
            self._began = now
            return
        took = now - self._began
        self.counts[info.get("generation", 0)] += 1
        self.total_ns += took
        self.max_ns = max(self.max_ns, took)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def as_dict(self) -> dict[str, Any]:
        return {
            "collections": list(self.counts),
            "total_ms": round(self.total_ns / 1e6, 3),
            "max_ms": round(self.max_ns / 1e6, 3),
        }


def run_test(spec: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Load the backend, calibrate, write user.conf and run one LoadGen test."""
    import mlperf_loadgen as lg
    import numpy as np

    from perfpilot.backends import BackendConfig, create_backend
    from perfpilot.backends.base import CalibrationData
    from perfpilot.catalog import get_model
    from perfpilot.catalog.registry import model_task
    from perfpilot.config.run import RunConfig
    from perfpilot.engine.calibrate import resolve_settings
    from perfpilot.engine.harness import (
        RAGGED,
        Detections,
        NamedInputs,
        QuerySampleLibrary,
        SystemUnderTest,
        postprocessor,
    )
    from perfpilot.engine.settings import expected_duration_s

    cfg = RunConfig.model_validate(spec["config"])
    model = get_model(cfg.model)
    task = model_task(model)  # spec["task"], with the model's layout and preprocessing
    dataset = task.load_dataset(cfg.dataset_path, cfg.dataset_size)
    backend = create_backend(
        cfg.backend,
        BackendConfig(
            device=cfg.device,
            threads=cfg.backend_threads,
            output_shape=task.output_shape,
            precision=cfg.precision,
        ),
        cfg.backend_options,
        # the catalog's tensor names, for backends whose config has them (frozen graphs)
        defaults={"input_names": model.input_names, "output_names": model.output_names},
    )
    runtime = backend
    if cfg.precision in runtime.calibrated_precisions:  # int8: quantized on dataset samples
        runtime.use_calibration(
            CalibrationData(dataset.sha256(), dataset.total_count, dataset.samples)
        )
    input_names = spec.get("input_names") or []
    if spec.get("postprocess") == "dlrm":  # packed Criteo rows -> dense + multi-hot ids
        from perfpilot.engine.criteo_inputs import CriteoInputs

        backend = CriteoInputs(runtime, input_names)
    elif len(input_names) > 1 and runtime.needs_model:  # e.g. BERT's three int64 inputs
        backend = NamedInputs(runtime, input_names)
    elif spec.get("postprocess") == "kits19":  # 3D-UNet: sliding window, a case at a time
        from perfpilot.engine.volumes import SlidingWindow

        backend = SlidingWindow(runtime)
    elif spec.get("postprocess") == "rnnt" and runtime.needs_model:  # one waveform at a time
        from perfpilot.engine.speech import Transcripts

        backend = Transcripts(runtime)
    elif spec.get("postprocess") in RAGGED and runtime.needs_model:  # detectors: batch 1
        backend = Detections(runtime, input_names[0] if input_names else None)
    model_path = Path(spec["model_path"]) if spec.get("model_path") else None
    backend.load(model_path)
    # Warm up with the batch the scenario will run: SingleStream queries hold one sample
    # (a 32-sample warm-up of BERT-large costs minutes on a small CPU).
    warm_size = {"MultiStream": cfg.samples_per_query or 8, "SingleStream": 1}.get(
        cfg.scenario, cfg.batch_size
    )
    warm_count = min(warm_size, dataset.total_count)
    warm = dataset.samples(np.arange(warm_count))
    backend.warmup(warm, rounds=1)  # first calls pay set-up costs: not timed
    began = time.perf_counter()
    backend.warmup(warm, rounds=2)
    pace = 2 * warm_count / max(time.perf_counter() - began, 1e-9)  # samples/s, one at a time

    settings, calibration = resolve_settings(cfg, backend, dataset)
    conf_path = run_dir / USER_CONF
    atomic_write_text(
        conf_path, settings.user_conf(spec["loadgen_model"], header=f"run {spec['run_id']}")
    )
    # One query's latency: what calibration measured, else the expected latency given in
    # the settings (a tuned profile's), else the warm-up pace.
    query_s = None
    if calibration.latency_ms:
        query_s = calibration.latency_ms / 1000
    elif not settings.target_latency_ms:
        query_s = warm_size / pace
    expected = expected_duration_s(settings, calibration.batch_throughput, query_s)
    if cfg.mode == "accuracy":  # the whole dataset, at the calibrated or the warm-up pace
        expected = dataset.total_count / (calibration.batch_throughput or pace)
    atomic_write_text(run_dir / PROGRESS_FILE, json.dumps({"expected_s": expected}))

    test = lg.TestSettings()
    rc = test.FromConfig(str(conf_path), spec["loadgen_model"], cfg.scenario, 1)
    if rc != 0:
        raise PerfpilotError(f"LoadGen rejected {conf_path} (FromConfig returned {rc})")
    test.scenario = getattr(lg.TestScenario, cfg.scenario)
    test.mode = lg.TestMode.AccuracyOnly if cfg.mode == "accuracy" else lg.TestMode.PerformanceOnly

    log = lg.LogSettings()
    log.log_output.outdir = str(run_dir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = cfg.trace

    failure: list[BaseException] = []
    lock = threading.Lock()

    def on_error(err: BaseException) -> None:
        # LoadGen waits for every issued sample and cannot be stopped, so a backend that
        # fails would hang the run: record the error and end the process now.
        with lock:
            if failure:
                return
            failure.append(err)
            _write_result(run_dir, _error_payload(err, "loadgen"))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)

    qsl = QuerySampleLibrary(dataset)
    sut = SystemUnderTest(
        cfg.scenario,
        backend,
        qsl,
        batch_size=cfg.batch_size,
        threads=cfg.threads or 1,
        max_wait_ms=cfg.max_wait_ms,
        on_error=on_error,
        postprocess=postprocessor(spec.get("postprocess", "argmax")),
        ragged=RAGGED.get(spec.get("postprocess", "")),
    )
    # An explicit path inside our fresh run directory: no stray audit.config can apply.
    with GcPauses() as pauses:
        lg.StartTestWithLogSettings(
            sut.handle, qsl.handle, test, log, str(run_dir / "audit.config")
        )
    sut.destroy()
    qsl.destroy()
    backend.close()
    return {
        "status": "ok",
        "settings": settings.model_dump(),
        "calibration": calibration.as_dict(),
        "backend_version": runtime.version(),
        "gc": pauses.as_dict(),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m perfpilot.engine.child SPEC.json", file=sys.stderr)
        return 2
    spec_path = Path(argv[0]).resolve()
    run_dir = spec_path.parent
    spec = json.loads(spec_path.read_text())
    try:
        payload = run_test(spec, run_dir)
    except BaseException as err:  # noqa: BLE001 - reported to the parent, then exit 1
        _write_result(run_dir, _error_payload(err, "setup"))
        traceback.print_exc()
        return 1
    _write_result(run_dir, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
