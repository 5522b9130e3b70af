"""Opt-in MetaSchedule tuning for the tvm backend's CPU modules.

``--backend-option tune_trials=N`` (N >= 1 measured candidates in all, shared by the
model's kernels) tunes; ``tune_batch=B`` (default 1) is the batch size the tuned module is
built for (``TvmConfig``). MetaSchedule cannot tune kernels with a symbolic axis, so a
tuned module has a fixed batch size; the backend answers other batch sizes in chunks of
B, padding the last one.

Candidates are built and timed in this process (TVM's ``LocalBuilder`` starts fresh
worker processes for every batch of candidates, and each spends longer than its 30 s
timeout importing TVM's tensor intrinsics on a busy machine). The tuning records (TVM's
JSON database) live next to the module, under ``tuning/``, keyed like it; ``done.json``
there marks them complete, so a rebuild reuses them instead of tuning again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.artifacts.files import atomic_write_text
from perfpilot.backends.tvm.config import TvmConfig
from perfpilot.errors import UsageError

log = logging.getLogger(__name__)

_DONE = "done.json"
GOOD_FFI = "0.1.14.post1"  # the newest apache-tvm-ffi that MetaSchedule works with


@dataclass(frozen=True)
class TuneSettings:
    trials: int
    batch: int

    def schedule_tag(self) -> str:
        """What the cache key's schedule field gets appended, so tuned modules differ."""
        return f"+metaschedule-{self.trials}t-b{self.batch}"


def tune_settings(config: TvmConfig) -> TuneSettings | None:
    """The tuning ``config`` asks for, or None (the default schedule). Its validation
    already kept tuning to the CPU; here the installed TVM is checked."""
    if config.tune_trials is None:
        return None
    check_ffi()
    return TuneSettings(trials=config.tune_trials, batch=config.tune_batch)


def ffi_problem() -> str | None:
    """Why MetaSchedule would crash with the installed TVM, or None. apache-tvm 0.27's
    ``TuneContext`` segfaults (in ``tvm::ffi::ToJSONGraph``) with apache-tvm-ffi 0.1.15.x;
    0.1.14.x works."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tvm_version, ffi_version = version("apache-tvm"), version("apache-tvm-ffi")
    except PackageNotFoundError:
        return None  # a source build: nothing known
    ffi_release = tuple(int(p) for p in ffi_version.split(".")[:3] if p.isdigit())
    if tvm_version.startswith("0.27") and ffi_release >= (0, 1, 15):
        return f"apache-tvm {tvm_version} crashes in MetaSchedule with apache-tvm-ffi {ffi_version}"
    return None


def check_ffi() -> None:
    problem = ffi_problem()
    if problem:
        raise UsageError(
            f"tune_trials cannot tune here: {problem}",
            f"pip install 'apache-tvm-ffi=={GOOD_FFI}', or drop --backend-option tune_trials.",
        )


def records_done(work_dir: Path) -> bool:
    return (work_dir / _DONE).is_file()


def tune(mod: Any, target: Any, work_dir: Path, trials: int) -> bool:
    """Tune the legalised module's kernels into ``work_dir``'s JSON database, unless
    complete records are already there. True when it tuned."""
    if records_done(work_dir):
        log.info("tvm: reusing tuning records in %s", work_dir)
        return False
    from tvm.s_tir import meta_schedule as ms

    work_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("database_workload.json", "database_tuning_record.json"):
        (work_dir / stale).unlink(missing_ok=True)  # an interrupted run's partial records
    kernels = len(ms.relax_integration.extract_tasks(mod, target))
    log.info(
        "tvm: MetaSchedule tuning %d kernels, %d trials (cached in %s)", kernels, trials, work_dir
    )
    database = ms.relax_integration.tune_relax(
        mod=mod,
        params={},
        target=target,
        work_dir=str(work_dir),
        max_trials_global=trials,
        # Round robin over the kernels, so a small budget reaches as many as it can.
        num_trials_per_iter=max(1, min(64, trials // max(kernels, 1))),
        builder=_in_process_builder(),
        runner=_in_process_runner(),
        cost_model="random",
        strategy="replay-trace",
        task_scheduler="round-robin",
        seed=0,
    )
    count = len(database.get_all_tuning_records())
    atomic_write_text(work_dir / _DONE, json.dumps({"trials": trials, "records": count}) + "\n")
    return True


def apply_pass(work_dir: Path) -> Any:
    """Relax pass that swaps in the best tuned kernel for every kernel with records."""
    from tvm import relax

    return relax.transform.MetaScheduleApplyDatabase(str(work_dir))


def _in_process_builder() -> Any:
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.s_tir.meta_schedule.builder.local_builder import default_build, default_export

    @derived_object  # type: ignore[untyped-decorator]
    class InProcessBuilder(PyBuilder):  # type: ignore[misc]
        def build(self, build_inputs: list[Any]) -> list[Any]:
            results = []
            for item in build_inputs:
                try:
                    library = default_build(item.mod, item.target, None)
                    results.append(BuilderResult(default_export(library), None))
                except Exception as err:  # noqa: BLE001 - a candidate that fails to build is skipped
                    results.append(BuilderResult(None, f"perfpilot builder: {err}"[:4000]))
            return results

    return InProcessBuilder()


def _in_process_runner() -> Any:
    import tvm
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.runner import (
        EvaluatorConfig,
        PyRunner,
        PyRunnerFuture,
        RunnerResult,
    )
    from tvm.s_tir.meta_schedule.runner.local_runner import (
        default_alloc_argument,
        default_run_evaluator,
    )

    @derived_object  # type: ignore[untyped-decorator]
    class Finished(PyRunnerFuture):  # type: ignore[misc]
        def __init__(self, result: Any) -> None:
            super().__init__()
            self._result = result

        def done(self) -> bool:
            return True

        def result(self) -> Any:
            return self._result

    config = EvaluatorConfig(number=3, repeat=1, min_repeat_ms=0, enable_cpu_cache_flush=False)

    @derived_object  # type: ignore[untyped-decorator]
    class InProcessRunner(PyRunner):  # type: ignore[misc]
        def run(self, runner_inputs: list[Any]) -> list[Any]:
            futures = []
            for item in runner_inputs:
                try:
                    library = tvm.runtime.load_module(item.artifact_path)
                    device = tvm.cpu(0)
                    args = [info.as_json() for info in item.args_info]
                    arrays = default_alloc_argument(device, args, 1)
                    costs = default_run_evaluator(library, device, config, arrays)
                    result = RunnerResult([float(c) for c in costs], None)
                except Exception as err:  # noqa: BLE001 - a candidate that fails to run is skipped
                    result = RunnerResult(None, f"perfpilot runner: {err}"[:4000])
                futures.append(Finished(result))
            return futures

    return InProcessRunner()
