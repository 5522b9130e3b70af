"""How much does the harness cost? Measured side by side in one run.

(a) raw onnxruntime throughput of digits-cnn on the in-memory dataset: the same backend
    object, batch size, worker threads and runtime threads, no LoadGen;
(b) perfpilot's Offline samples/s (real LoadGen, child process, same settings);
    the ratio b/a, with (a) and (b) interleaved over several rounds to share the noise;
(c) the null backend's ceiling: Offline samples/s, and the highest VALID Server QPS.

Usage: python bench/harness_efficiency.py [--rounds 3] [--seconds 8] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from perfpilot.backends import BackendConfig, create_backend
from perfpilot.config import build_run_configs
from perfpilot.engine.calibrate import measure_throughput
from perfpilot.engine.prepare import resolve_config
from perfpilot.engine.runner import run_benchmark
from perfpilot.results.db import index_record
from perfpilot.tasks import get_task
from perfpilot.tasks.digits.model import ensure_digits_cnn
from perfpilot.workspace import Workspace


def raw_throughput(batch_size: int, threads: int, backend_threads: int, seconds: float) -> float:
    task = get_task("digits")
    dataset = task.load_dataset()
    backend = create_backend(
        "onnxruntime",
        BackendConfig(threads=backend_threads, output_shape=task.output_shape),
    )
    backend.load(ensure_digits_cnn(log=False))
    backend.warmup(dataset.samples(list(range(batch_size))))  # type: ignore[arg-type]
    return measure_throughput(backend, dataset, batch_size, threads, seconds)


def perfpilot_offline(ws: Workspace, seconds: float, **options: object) -> tuple[float, bool]:
    cfgs = build_run_configs(
        "Offline", "performance", min_duration_ms=int(seconds * 1000), **options
    )
    (record,) = run_benchmark(cfgs, ws, ["bench"])
    assert record.result is not None and record.result.metric is not None, record.error
    return record.result.metric, bool(record.result.valid)


def null_server_search(ws: Workspace, seconds: float, start: float) -> tuple[float, float | None]:
    """Raise the target QPS by 25% steps until a run is INVALID; return the highest
    VALID target and its completed QPS."""
    best, best_completed = 0.0, None
    qps = start
    while True:
        cfgs = build_run_configs(
            "Server",
            "performance",
            backend="null",
            target_qps=qps,
            min_duration_ms=int(seconds * 1000),
        )
        (record,) = run_benchmark(cfgs, ws, ["bench"])
        res = record.result
        valid = bool(res and res.valid)
        p99 = res.latency_ns.get("p99", 0) / 1e6 if res else float("nan")
        print(
            f"    null Server target {qps:>9,.0f} QPS: {'VALID' if valid else 'INVALID'}"
            f" (p99 {p99:.2f} ms)",
            flush=True,
        )
        if not valid:
            return best, best_completed
        best, best_completed = qps, res.metric if res else None
        qps *= 1.25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="default: one per core")
    args = parser.parse_args()

    os.environ.setdefault(
        "PERFPILOT_CACHE", str(Path(tempfile.gettempdir()) / "perfpilot-bench-cache")
    )
    ws = Workspace(Path(tempfile.mkdtemp(prefix="perfpilot-bench-")), on_record=index_record)
    cfg = resolve_config(
        build_run_configs(
            "Offline", "performance", batch_size=args.batch_size, threads=args.threads
        )[0]
    )
    bt = cfg.backend_threads or 1
    args.threads = cfg.threads or 1
    print(
        f"digits-cnn, onnxruntime, batch {args.batch_size}, {args.threads} worker(s) x "
        f"{bt} runtime thread(s), {args.seconds:.0f} s per measurement, "
        f"{args.rounds} rounds; {os.cpu_count()} cores",
        flush=True,
    )
    raws, ours = [], []
    for i in range(args.rounds):
        raw = raw_throughput(args.batch_size, args.threads, bt, args.seconds)
        qps, valid = perfpilot_offline(
            ws, args.seconds, batch_size=args.batch_size, threads=args.threads, backend_threads=bt
        )
        raws.append(raw)
        ours.append(qps)
        print(
            f"  round {i + 1}: raw {raw:>10,.1f}/s   perfpilot Offline {qps:>10,.1f}/s "
            f"({'VALID' if valid else 'INVALID'})   ratio {qps / raw:.3f}",
            flush=True,
        )
    raw_med, our_med = statistics.median(raws), statistics.median(ours)
    ratios = [o / r for o, r in zip(ours, raws, strict=True)]

    t0 = time.time()
    nulls = []
    for i in range(args.rounds):
        rate, null_valid = perfpilot_offline(ws, args.seconds, backend="null", batch_size=256)
        nulls.append(rate)
        print(
            f"  null Offline round {i + 1}: {rate:,.0f} samples/s, {1e6 / rate:.2f} us per "
            f"sample ({'VALID' if null_valid else 'INVALID'})",
            flush=True,
        )
    null_offline = statistics.median(nulls)
    server_best, server_completed = null_server_search(ws, max(3.0, args.seconds / 2), 16000.0)
    print(f"  (null measurements took {time.time() - t0:.0f} s)")

    print()
    print("| measurement | value |")
    print("|---|---|")
    print(f"| (a) raw onnxruntime, median of {args.rounds} | {raw_med:,.1f} samples/s |")
    print(f"| (b) perfpilot Offline, median of {args.rounds} | {our_med:,.1f} samples/s |")
    print(
        f"| ratio b/a (median of per-round ratios) | {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}; floor 0.98) |"
    )
    print(
        f"| null backend Offline, median of {args.rounds} | {null_offline:,.0f} samples/s = "
        f"{1e6 / null_offline:.2f} us per sample (min {min(nulls):,.0f}, max {max(nulls):,.0f}; "
        "floor 1,000,000) |"
    )
    completed = f"{server_completed:,.0f}" if server_completed else "-"
    print(
        f"| null backend Server, highest VALID target | {server_best:,.0f} QPS "
        f"(completed {completed}/s; floor 100,000) |"
    )


if __name__ == "__main__":
    main()
