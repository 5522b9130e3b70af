"""Entry point of the child process that runs exactly one LoadGen test.

``python -m perfpilot.engine.child SPEC.json`` with the run directory as working
directory. LoadGen applies its built-in mlperf.conf once per process, so every test gets
a fresh process. The child writes ``child_result.json`` (ok, or the error and its
traceback) and the parent reads it after the child exits.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Literal

from perfpilot.artifacts import atomic_write_text
from perfpilot.engine.contracts import RESULT_FILE, ChildResult, ChildSpec
from perfpilot.errors import PerfpilotError

PROGRESS_FILE = "progress.json"
USER_CONF = "user.conf"


def _write_result(run_dir: Path, result: ChildResult) -> None:
    atomic_write_text(run_dir / RESULT_FILE, result.model_dump_json(indent=2) + "\n")


def _error_result(err: BaseException, phase: Literal["setup", "loadgen"]) -> ChildResult:
    message = err.one_line() if isinstance(err, PerfpilotError) else f"{type(err).__name__}: {err}"
    return ChildResult(
        status="failed",
        phase=phase,
        error=message,
        traceback="".join(traceback.format_exception(err)),
    )


class GcPauses:
    """Python's garbage-collector pauses while LoadGen runs: collections per generation,
    their total and longest time (a collection stops every Python thread of the harness).
    Measured, not tuned: the built-in model's Server runs at 12,800 QPS for 3 s saw no collection at
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


def run_test(spec: ChildSpec, run_dir: Path) -> ChildResult:
    """Load the backend, calibrate, write user.conf and run one LoadGen test."""
    import mlperf_loadgen as lg
    import numpy as np

    from perfpilot.backends import BackendConfig, create_backend
    from perfpilot.backends.base import CalibrationData
    from perfpilot.engine.calibrate import expected_calibration_s, resolve_settings
    from perfpilot.engine.harness import QuerySampleLibrary, SystemUnderTest
    from perfpilot.engine.live import (
        FINISHING,
        Phases,
        ProgressWriter,
        TokenMeter,
        accuracy_samples,
    )
    from perfpilot.engine.settings import expected_duration_s, loadgen_names
    from perfpilot.tasks.spec import resolve

    cfg, model, task = spec.config, spec.model, spec.task
    # progress.json tells the parent's progress line which phase runs since when
    phases = Phases(run_dir / PROGRESS_FILE)
    phases.enter("loading")
    dataset = task.load_dataset(cfg.dataset_path, cfg.dataset_size)
    backend = create_backend(
        cfg.backend,
        BackendConfig(
            device=cfg.device,
            threads=cfg.backend_threads,
            output_shape=task.output_shape,
            precision=cfg.precision,
            loader=task.loader(cfg.backend),
        ),
        cfg.backend_options,
        # the catalog's tensor names, for backends whose config has them (frozen graphs);
        # the answer length of generative tasks
        defaults={
            "input_names": model.input_names,
            "output_names": model.output_names,
            "max_new_tokens": task.max_new_tokens,
        },
    )
    runtime = backend
    if cfg.precision in runtime.calibrated_precisions:  # int8: quantized on dataset samples
        runtime.use_calibration(
            CalibrationData(dataset.sha256(), dataset.total_count, dataset.samples)
        )
    # The task's adapter feeds the model its way and shapes LoadGen's responses.
    adapter = resolve(task.adapter)(model, spec.input_names)
    backend = adapter.wrap(runtime)
    backend.load(spec.model_path)
    # Warm up with the batch the scenario will run: SingleStream queries hold one sample
    # (a 32-sample warm-up of BERT-large costs minutes on a small CPU).
    warm_size = {"MultiStream": cfg.samples_per_query or 8, "SingleStream": 1}.get(
        cfg.scenario, cfg.batch_size
    )
    warm_count = min(warm_size, dataset.total_count)
    warm = dataset.samples(np.arange(warm_count))
    phases.enter("warming up")
    backend.warmup(warm, rounds=1)  # first calls pay set-up costs: not timed
    began = time.perf_counter()
    backend.warmup(warm, rounds=2)
    predict_s = max((time.perf_counter() - began) / 2, 1e-9)
    pace = warm_count / predict_s  # samples/s, one at a time

    phases.enter("calibrating", phase_expected_s=expected_calibration_s(cfg, predict_s, warm_count))
    settings, calibration = resolve_settings(cfg, backend, dataset, tokens=task.generative)
    conf_path = run_dir / USER_CONF
    atomic_write_text(
        conf_path, settings.user_conf(model.loadgen_name, header=f"run {spec.run_id}")
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
    # expected_s is the test's alone; setup_s what loading, warm-up and calibration took
    phases.enter(
        "accuracy test" if cfg.mode == "accuracy" else "performance test",
        expected_s=expected,
        setup_s=round(time.monotonic() - phases.began, 3),
        phase_expected_s=None,
    )

    test = lg.TestSettings()
    lg_model, lg_scenario = loadgen_names(model.loadgen_name, cfg.scenario)
    rc = test.FromConfig(str(conf_path), lg_model, lg_scenario, 1)
    if rc != 0:
        raise PerfpilotError(f"LoadGen rejected {conf_path} (FromConfig returned {rc})")
    test.scenario = getattr(lg.TestScenario, lg_scenario)
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
            _write_result(run_dir, _error_result(err, "loadgen"))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)

    qsl = QuerySampleLibrary(dataset)
    # Token runs report tokens/s, TTFT and TPOT so far to the progress line; where the
    # backend is fast (warm-up pace), only every 8th query is timed.
    meter = (
        TokenMeter(latencies=lg_scenario != "Offline", every=1 if pace < 1000 else 8)
        if task.generative
        else None
    )
    sut = SystemUnderTest(
        lg_scenario,
        backend,
        qsl,
        batch_size=cfg.batch_size,
        threads=cfg.threads or 1,
        max_wait_ms=cfg.max_wait_ms,
        on_error=on_error,
        postprocess=adapter.postprocess,
        ragged=adapter.responses if adapter.ragged else None,
        tokens=task.generative,
        meter=meter,
    )
    # Every run reports its samples done once a second (an accuracy test's out of what
    # it will issue: the dataset once through); a token run its meter's figures too.
    total = None
    if cfg.mode == "accuracy":
        total = accuracy_samples(
            dataset.total_count,
            test.performance_sample_count_override or dataset.performance_count,
            getattr(test, "accuracy_sample_count_override", 0),  # LoadGen 5.1 on
            test.multi_stream_samples_per_query if lg_scenario == "MultiStream" else 1,
        )
    live = ProgressWriter(
        run_dir / PROGRESS_FILE,
        expected,
        meter,
        phases=phases,
        samples=sut.samples_done,
        total=total,
    )
    # An explicit path inside our fresh run directory: no stray audit.config can apply.
    with GcPauses() as pauses, live:
        lg.StartTestWithLogSettings(
            sut.handle, qsl.handle, test, log, str(run_dir / "audit.config")
        )
    phases.enter(FINISHING)
    sut.destroy()
    qsl.destroy()
    backend.close()
    return ChildResult(
        status="ok",
        settings=settings.model_dump(),
        calibration=calibration.as_dict(),
        backend_version=runtime.version(),
        gc=pauses.as_dict(),
    )


#: The parent's pid, set by the parent: the child dies with it.
PARENT_ENV = "PERFPILOT_PARENT_PID"


def _die_with_parent() -> None:
    """Have Linux kill this child when the perfpilot process that started it dies, so
    that no LoadGen test runs on unowned (prctl's PR_SET_PDEATHSIG)."""
    parent = os.environ.get(PARENT_ENV, "")
    if not sys.platform.startswith("linux") or not parent.isdigit():
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not allowed here: the parent's next command records the run instead
    if os.getppid() != int(parent):  # the parent died before the signal was armed
        os._exit(1)


def main(argv: list[str]) -> int:
    _die_with_parent()
    if len(argv) != 1:
        print("usage: python -m perfpilot.engine.child SPEC.json", file=sys.stderr)
        return 2
    spec_path = Path(argv[0]).resolve()
    run_dir = spec_path.parent
    try:
        spec = ChildSpec.model_validate_json(spec_path.read_bytes())
        result = run_test(spec, run_dir)
    except BaseException as err:  # noqa: BLE001 - reported to the parent, then exit 1
        _write_result(run_dir, _error_result(err, "setup"))
        traceback.print_exc()
        return 1
    _write_result(run_dir, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
