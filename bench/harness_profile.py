"""Where does the harness's time go, per sample? A profile by stage, in CPU time.

A null-backend run (Offline, then Server) is made once through ``perfpilot run`` for its
resolved child spec; the same spec is then replayed in a child process of this script
with every harness stage wrapped in a CPU-time counter (``time.thread_time_ns`` on the
thread that runs it, so a busy machine inflates wall time but not these figures):

- issue: LoadGen's issue callback (ids and indices in, queue hand-off out)
- gather: the QSL's gather of the batch's samples
- predict: the backend call (the null backend: a slice of zeros)
- postprocess: the task adapter's answers (digits: the arg max)
- respond: the copy into the response buffer and one id per sample
- complete: inside LoadGen's ``QuerySamplesComplete`` (its per-sample bookkeeping; the
  respond figure excludes it)
- rest: the process's CPU time less the stages: LoadGen's own threads, queue waits,
  worker wake-ups, the interpreter's switches

Usage: python bench/harness_profile.py [--seconds 4] [--server-qps 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

STAGES = ("issue", "gather", "predict", "postprocess", "respond", "complete")


def _replay(spec_path: Path, out: Path) -> None:
    """Child side: run the spec with every stage counted, write the counters as JSON."""
    import mlperf_loadgen as lg

    from perfpilot.engine import child, harness
    from perfpilot.engine.contracts import ChildSpec

    totals = dict.fromkeys(STAGES, 0)
    calls = dict.fromkeys(STAGES, 0)
    lock = threading.Lock()

    def counted(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            began = time.thread_time_ns()
            try:
                return fn(*args)
            finally:
                took = time.thread_time_ns() - began
                with lock:
                    totals[stage] += took
                    calls[stage] += 1

        return wrapper

    complete = lg.QuerySamplesComplete
    lg.QuerySamplesComplete = counted("complete", complete)
    respond = harness.Responder.complete
    harness.Responder.complete = counted("respond", respond)  # type: ignore[method-assign]
    sut_init = harness.SystemUnderTest.__init__

    def init(self: harness.SystemUnderTest, *args: Any, **kwargs: Any) -> None:
        kwargs["postprocess"] = counted("postprocess", kwargs["postprocess"])
        sut_init(self, *args, **kwargs)
        self.backend.predict = counted("predict", self.backend.predict)  # type: ignore[method-assign]
        self.qsl.batch = counted("gather", self.qsl.batch)  # type: ignore[method-assign]

    harness.SystemUnderTest.__init__ = init  # type: ignore[method-assign]
    construct = lg.ConstructFastSUT
    lg.ConstructFastSUT = lambda issue, flush: construct(counted("issue", issue), flush)

    # The process's CPU time while LoadGen's test runs (not set-up nor calibration).
    test_cpu = [0]
    start = lg.StartTestWithLogSettings

    def timed_test(*args: Any) -> None:
        began = time.process_time_ns()
        start(*args)
        test_cpu[0] = time.process_time_ns() - began

    lg.StartTestWithLogSettings = timed_test
    spec = ChildSpec.model_validate_json(spec_path.read_bytes())
    child.run_test(spec, out.parent)
    out.write_text(json.dumps({"totals": totals, "calls": calls, "process_cpu_ns": test_cpu[0]}))


def _summary_samples(run_dir: Path) -> tuple[int, float, str]:
    """Samples completed, the result figure and the validity from LoadGen's detail log."""
    from perfpilot.engine.logparse import parse_result

    parsed = parse_result(run_dir)
    return parsed.sample_count or 0, parsed.metric or 0.0, "VALID" if parsed.valid else "INVALID"


def profile(scenario: str, seconds: float, **options: Any) -> None:
    from perfpilot.config import build_run_configs
    from perfpilot.engine.runner import run_benchmark
    from perfpilot.workspace import Workspace

    ws = Workspace(Path(tempfile.mkdtemp(prefix="perfpilot-profile-")))
    cfgs = build_run_configs(
        scenario, "performance", backend="null", min_duration_ms=int(seconds * 1000), **options
    )
    (record,) = run_benchmark(cfgs, ws, ["profile"])
    source = ws.runs_dir / record.run_id
    replay = Path(tempfile.mkdtemp(prefix="perfpilot-replay-"))
    (replay / "spec.json").write_bytes((source / "spec.json").read_bytes())
    out = replay / "profile.json"
    subprocess.run(
        [sys.executable, __file__, "--replay", str(replay / "spec.json"), str(out)],
        cwd=replay,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    data = json.loads(out.read_text())
    data["totals"]["respond"] -= data["totals"]["complete"]  # respond calls complete
    samples, metric, validity = _summary_samples(replay)
    unit = "samples/s"
    print(
        f"{scenario}: {samples:,} samples, {metric:,.0f} {unit} ({validity}), "
        f"batch size {record.config['batch_size']}, {record.config['threads']} worker(s)"
    )
    print("| stage | calls | us per sample | share |")
    print("|---|---:|---:|---:|")
    staged = sum(data["totals"].values())
    cpu = data["process_cpu_ns"]
    for stage in STAGES:
        ns = data["totals"][stage]
        print(f"| {stage} | {data['calls'][stage]:,} | {ns / samples / 1e3:.3f} | {ns / cpu:.1%} |")
    rest = max(cpu - staged, 0)
    print(
        f"| rest (LoadGen's threads, waits) | - | {rest / samples / 1e3:.3f} | {rest / cpu:.1%} |"
    )
    print(f"| process CPU during the test | - | {cpu / samples / 1e3:.3f} | 100% |")
    print()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--replay":
        _replay(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--server-qps", type=float, default=20000.0)
    args = parser.parse_args()
    os.environ.setdefault(
        "PERFPILOT_CACHE", str(Path(tempfile.gettempdir()) / "perfpilot-bench-cache")
    )
    profile("Offline", args.seconds, batch_size=256)
    profile("Server", args.seconds, target_qps=args.server_qps)


if __name__ == "__main__":
    main()
