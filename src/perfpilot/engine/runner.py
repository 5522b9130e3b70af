"""The parent side of a benchmark: resolve, start one child per LoadGen test, wait,
score, record. The parent blocks on the child; a timer thread only redraws progress."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from perfpilot.artifacts import atomic_write_text
from perfpilot.backends.base import BackendConfig
from perfpilot.backends.registry import backend_class
from perfpilot.config.run import RunConfig
from perfpilot.engine.child import PARENT_ENV, PROGRESS_FILE
from perfpilot.engine.contracts import RESULT_FILE, SPEC_FILE, ChildResult, ChildSpec, read_result
from perfpilot.engine.live import FINISHING, LiveStats, read_phase, read_progress
from perfpilot.engine.logparse import parse_result
from perfpilot.engine.prepare import Prepared, prepare, resolve_config
from perfpilot.errors import PerfpilotError, UsageError, disk_full, free_bytes
from perfpilot.interrupts import STOP_SIGNALS, reason
from perfpilot.provenance import software_versions, system_info
from perfpilot.records import AccuracyRecord, RunRecord
from perfpilot.tasks import TaskSpec, get_model, model_task
from perfpilot.tasks.spec import resolve
from perfpilot.workspace import Workspace

#: progress(label, elapsed_s, expected_s or None, the test's live figures or None);
#: called about four times a second. The label names the test and the child's phase
#: ("Offline performance: calibrating"); elapsed and expected count from the child's
#: start, so the expected total includes loading, warm-up and calibration.
ProgressFn = Callable[[str, float, float | None, LiveStats | None], None]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class _Progress:
    """Calls ``progress`` on a timer while the parent waits for the child."""

    def __init__(self, fn: ProgressFn | None, label: str, run_dir: Path | None) -> None:
        self.fn, self.label, self.run_dir = fn, label, run_dir
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _Progress:
        if self.fn is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()

    def _loop(self) -> None:
        assert self.fn is not None
        start, began_at = time.monotonic(), time.time()
        estimated = False
        while not self.done.wait(0.25):
            elapsed = time.monotonic() - start
            if self.run_dir is None:  # work in the parent (building a model): a clock only
                self.fn(self.label, elapsed, None, None)
                continue
            # the child writes its phase as it enters it, the expected duration once it
            # knows it, and the test's figures once a second (a whole new file each time:
            # never half-read)
            path = self.run_dir / PROGRESS_FILE
            expected, live = read_progress(path)
            phase = read_phase(path)
            label = f"{self.label}: {phase.name if phase else 'starting'}"
            if phase is not None and phase.expected_s:  # calibration: about how long
                label += f" (about {phase.expected_s:.0f}s)"
            if expected is not None and phase is not None and phase.test_started_at:
                # the whole child's time (start, loading, warm-up, calibration), not the
                # test's alone
                expected += max(phase.test_started_at - began_at, 0.0)
            left = live.remaining_s() if live is not None else None
            if left is not None:  # an accuracy test: its pace so far beats the estimate
                expected = elapsed + left
            if phase is not None and phase.name == FINISHING and not estimated:
                expected = None  # a test over before its first look: no estimate after it
            estimated = estimated or expected is not None
            self.fn(label, elapsed, expected, live)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this very perfpilot, whether installed or run from a checkout.
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop(PARENT_ENV, None)
    # Linux's parent-death signal follows the thread that started the child: armed only
    # when that is the main thread, which lives as long as the process.
    if threading.current_thread() is threading.main_thread():
        env[PARENT_ENV] = str(os.getpid())
    return env


def _wait_child(proc: subprocess.Popen[bytes]) -> tuple[int, int | None]:
    """Block until the child ends: its exit code and its own peak RSS in bytes (wait4
    reports this child alone, where RUSAGE_CHILDREN would keep the largest child ever)."""
    if not hasattr(os, "wait4"):
        return proc.wait(), None
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return proc.returncode, usage.ru_maxrss * scale


def _stop_child(proc: subprocess.Popen[bytes]) -> int:
    """Stop the child (SIGTERM, then SIGKILL after 10 s) and reap it: its exit code."""
    if proc.returncode is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) or SIGTERM that arrives inside the block and hand it to its
    Python handler at the block's end, so the block's few steps happen all or not at all.
    Only the main thread can set handlers; elsewhere the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {
        signum: handler
        for signum in (signal.SIGINT, *STOP_SIGNALS)
        if callable(handler := signal.getsignal(signum))
    }
    held: list[tuple[int, Any]] = []
    for signum in handlers:
        signal.signal(signum, lambda got, frame: held.append((got, frame)))
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if held:
        got, frame = held[0]
        handlers[signal.Signals(got)](got, frame)  # KeyboardInterrupt, as a rule


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class _Scored(Protocol):
    @property
    def accuracy(self) -> float: ...

    @property
    def good(self) -> int: ...

    @property
    def total(self) -> int: ...

    def line(self) -> str: ...


def check_scenario(cfg: RunConfig, task: TaskSpec) -> None:
    """A usage error for a scenario MLPerf does not define for the task (3D-UNet has no
    Server or MultiStream)."""
    if cfg.scenario not in task.scenarios:
        raise UsageError(
            f"MLPerf defines no {cfg.scenario} scenario for {cfg.model!r} (task {task.name})",
            f"Choose --scenario {' or '.join(task.scenarios)}.",
        )


def _target(prepared: Prepared) -> float:
    """The model's own target where it has one (a 99.9% variant), else its task's."""
    model_target = prepared.model.accuracy_target
    return prepared.task.accuracy_target if model_target is None else model_target


def _read_child(cfg: RunConfig, run_dir: Path) -> ChildResult | None:
    """The child's answer (None where it wrote none); drops LoadGen's empty trace."""
    trace = run_dir / "mlperf_log_trace.json"
    if not cfg.trace and trace.exists() and trace.stat().st_size == 0:
        trace.unlink()  # LoadGen creates it even with tracing off
    return read_result(run_dir / RESULT_FILE)


def _finish(
    cfg: RunConfig,
    prepared: Prepared,
    run_dir: Path,
    child: ChildResult | None,
    returncode: int,
    interrupted: str | None,
) -> tuple[str, str | None, Any, AccuracyRecord | None]:
    """Judge what the child left: status, error, LoadGen's result and, for an accuracy
    run, the accuracy script's score (written to accuracy.txt). ``interrupted``: why the
    run was stopped, if it was."""
    status: str = "ok"
    error: str | None = None
    if interrupted:
        status, error = "interrupted", interrupted
    elif child is not None and child.status == "failed":
        status, error = "failed", str(child.error)
    elif returncode != 0 or child is None:
        from perfpilot.engine.child_exit import describe_exit

        tail = _tail(run_dir / "child.log")
        status = "failed"
        error = f"the LoadGen child process {describe_exit(returncode)}" + (
            f": {tail}" if tail else ""
        )

    result = None
    if (run_dir / "mlperf_log_detail.txt").exists():
        try:
            result = parse_result(run_dir)
        except PerfpilotError as err:
            if status == "ok":
                status, error = "failed", err.one_line()
    elif status == "ok":
        status, error = "failed", "LoadGen wrote no detail log"

    accuracy = None
    if status == "ok" and cfg.mode == "accuracy":
        try:
            scorer = resolve(prepared.task.scorer)
            # Generated token ids are read with the model's tokenizer.
            extra = {"tokenizer": _tokenizer(prepared)} if prepared.task.generative else {}
            log = run_dir / "mlperf_log_accuracy.json"
            scored: _Scored = scorer(log, prepared.dataset, **extra)
        except PerfpilotError as err:
            status, error = "failed", err.one_line()
        else:
            text = getattr(scored, "text", None)  # the script's full output where it has one
            body = text() if callable(text) else scored.line() + "\n"
            atomic_write_text(run_dir / "accuracy.txt", body)
            # A stand-in's random weights make its accuracy meaningless: not judged.
            target = None if prepared.model.standin else _target(prepared)
            accuracy = AccuracyRecord(
                metric=prepared.task.metric,
                value=round(scored.accuracy, 3),
                good=scored.good,
                total=scored.total,
                target=target,
                passed=target is None or scored.accuracy >= target,
            )

    return status, error, result, accuracy


def _tokenizer(prepared: Prepared) -> Path | None:
    """Where a generative model's tokenizer is: its folder, else the catalog's own."""
    if prepared.model_file is not None:
        return prepared.model_file
    if prepared.model.tokenizer:
        path: Path = resolve(prepared.model.tokenizer)()
        return path
    return None


def prepare_shown(cfg: RunConfig, progress: ProgressFn | None) -> Prepared:
    """:func:`prepare`, with a progress line while it works: a first use may build or
    train the model, or preprocess the dataset."""
    with _Progress(progress, f"preparing {cfg.model} on {cfg.backend}", None):
        return prepare(cfg)


def run_one(
    cfg: RunConfig,
    prepared: Prepared,
    workspace: Workspace,
    session_id: str,
    command: Sequence[str],
    progress: ProgressFn | None = None,
    tags: Mapping[str, str] | None = None,
    audit_config: str | None = None,
) -> RunRecord:
    """Run one LoadGen test in its own child process and fresh run directory.

    ``audit_config`` (a compliance test's audit.config text) is written into this run's
    directory only, where the child points LoadGen at it."""
    check_scenario(cfg, prepared.task)
    cfg = resolve_config(cfg)
    _check_space(cfg, prepared, workspace)
    stop: KeyboardInterrupt | None = None
    proc: subprocess.Popen[bytes] | None = None
    returncode = 0
    peak_rss: int | None = None
    started = _now()
    lock: int | None = None
    system = system_info()
    try:
        # From the run directory's creation to a child we can stop, a Ctrl-C (or SIGTERM,
        # SIGHUP) waits: the directory always gets its run.json and no child is left
        # running unowned.
        with _signals_held():
            run_id, run_dir = workspace.new_run_dir(cfg.scenario, cfg.mode)
            try:
                lock = workspace.claim(run_dir)
                spec = ChildSpec(
                    run_id=run_id,
                    config=cfg,
                    model=prepared.model,
                    task=prepared.task,
                    model_path=prepared.model_file,
                    input_names=prepared.model.input_names or prepared.task.input_names,
                )
                draft = RunRecord(
                    run_id=run_id,
                    session_id=session_id,
                    status="interrupted",
                    started=started,
                    finished=started,
                    command=list(command),
                    run_dir=str(run_dir),
                    config=json.loads(cfg.model_dump_json()),
                    model=prepared.model_record,
                    standin=prepared.model.standin,
                    dataset=prepared.dataset_record,
                    provenance={"system": system, "software": software_versions(None)},
                    error=ORPHANED,
                    tags=dict(tags or {}),
                )
                if audit_config is not None:
                    atomic_write_text(run_dir / "audit.config", audit_config)
                spec_path = run_dir / SPEC_FILE
                atomic_write_text(spec_path, spec.model_dump_json(indent=2) + "\n")
                workspace.write_pending(draft)
                log = open(run_dir / "child.log", "wb")
            except BaseException:
                # No test started: the run leaves nothing behind (a full disk, say).
                if lock is not None:
                    os.close(lock)
                    lock = None
                shutil.rmtree(run_dir, ignore_errors=True)
                raise
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "perfpilot.engine.child", str(spec_path)],
                    cwd=run_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=_child_env(),
                    pass_fds=(lock,),  # the child holds the run's lock too
                )
            finally:
                log.close()  # the child holds its own copy
        label = f"{cfg.scenario} {cfg.mode}"
        if tags and "compliance" in tags:  # a compliance test's run: say which
            label += f" {tags['compliance']}"
        with _Progress(progress, label, run_dir):
            returncode, peak_rss = _wait_child(proc)
    except KeyboardInterrupt as err:
        stop = err
        if proc is None:  # stopped before the run directory existed: nothing to record
            if lock is not None:
                os.close(lock)
            raise
        returncode = _stop_child(proc)
    try:
        child = _read_child(cfg, run_dir)
        record, stop = _record(cfg, prepared, run_dir, returncode, stop, draft, peak_rss, child)
        with _signals_held():  # a second Ctrl-C does not lose the record half-indexed
            workspace.write_record(record)
    finally:
        if lock is not None:
            os.close(lock)
    if stop is not None:
        raise stop
    return record


#: The error of a run whose perfpilot process died before it recorded the run.
ORPHANED = "the perfpilot process that ran this test ended before recording it (killed?)"


def _record(
    cfg: RunConfig,
    prepared: Prepared,
    run_dir: Path,
    returncode: int,
    stop: KeyboardInterrupt | None,
    draft: RunRecord,
    peak_rss: int | None,
    child: ChildResult | None,
) -> tuple[RunRecord, KeyboardInterrupt | None]:
    """The run's record from its draft and what the child left, and the interrupt to
    raise once it is written (one may come while scoring)."""
    why = reason(stop) if stop is not None else None
    try:
        status, error, result, accuracy = _finish(cfg, prepared, run_dir, child, returncode, why)
    except KeyboardInterrupt as err:  # Ctrl-C while scoring: the run is still recorded
        status, error = "interrupted", reason(err)
        result, accuracy = None, None
        stop = stop or err

    answer = child or ChildResult(status="failed")  # no answer: nothing measured to keep
    record = draft.model_copy(
        update={
            "status": status,
            "finished": _now(),
            "loadgen_settings": answer.settings,
            "calibration": answer.calibration,
            "provenance": {
                "system": draft.provenance.get("system") or system_info(),
                "software": software_versions(answer.backend_version),
            },
            "result": result,
            "accuracy": accuracy,
            "error": error,
            "peak_rss_bytes": peak_rss,
            "gc": answer.gc,
        }
    )
    return record, stop


#: Space a test needs besides its accuracy log: LoadGen's logs, the records.
RUN_BASE_BYTES = 16 << 20


def space_needed(cfg: RunConfig, prepared: Prepared) -> int:
    """About how many bytes one test writes: an accuracy run logs every response in hex."""
    need = RUN_BASE_BYTES
    if cfg.mode == "accuracy":
        task = prepared.task
        per_sample = task.max_new_tokens * 4 if task.generative else 4
        if not task.generative:
            for side in task.output_shape:
                per_sample *= max(1, side)
        count = prepared.dataset.total_count
        need += count * (2 * per_sample + 96)  # hex, plus the JSON of each entry
    return need


def _check_space(cfg: RunConfig, prepared: Prepared, workspace: Workspace) -> None:
    """Refuse a test that would not fit on the workspace's disk, before it starts."""
    need = space_needed(cfg, prepared)
    free = free_bytes(workspace.root)
    if free is not None and free < need:
        raise disk_full(workspace.runs_dir, need)


def run_benchmark(
    configs: Sequence[RunConfig],
    workspace: Workspace,
    command: Sequence[str] = (),
    progress: ProgressFn | None = None,
    on_record: Callable[[RunRecord], None] | None = None,
    tags: Mapping[str, str] | None = None,
) -> list[RunRecord]:
    """Run every test in ``configs`` (each in its own child process), in order."""
    if not configs:
        raise UsageError("nothing to run")
    session_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"

    def key(cfg: RunConfig) -> tuple[str, str, str, str | None, str | None, int | None]:
        return (
            cfg.model,
            cfg.backend,
            cfg.device,
            str(cfg.model_path or ""),
            str(cfg.dataset_path or ""),
            cfg.dataset_size,
        )

    cache: dict[tuple[str, str, str, str | None, str | None, int | None], Prepared] = {}
    for cfg in configs:  # resolve everything first: bad input fails before any test
        check_scenario(cfg, model_task(get_model(cfg.model)))  # before any download
        if key(cfg) not in cache:
            cache[key(cfg)] = prepare_shown(cfg, progress)
        else:  # the same files, perhaps another precision
            backend_class(cfg.backend, cfg.device).check_precision(cfg.precision)
            backend_class(cfg.backend, cfg.device).make_config(
                BackendConfig(device=cfg.device), cfg.backend_options
            )
    records = []
    for cfg in configs:
        record = run_one(cfg, cache[key(cfg)], workspace, session_id, command, progress, tags=tags)
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records
