"""Per-backend harness efficiency on the ResNet50 v1.5 stand-in, side by side in one run.

For each installed backend that reads ONNX: (a) the backend's raw throughput on the
preprocessed synthetic ImageNet samples (same backend object and options, batch size,
worker threads and runtime threads, no LoadGen) and (b) perfpilot's Offline samples/s
with the same settings; the ratio b/a, interleaved over rounds.

Usage: python bench/backends.py [--rounds 2] [--seconds 10] [--batch-size 4] [--images 64]
                                [--backends onnxruntime,tvm,...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from perfpilot.backends import BackendConfig, create_backend
from perfpilot.backends.registry import BACKENDS, backend_class
from perfpilot.config import build_run_configs
from perfpilot.engine.calibrate import measure_throughput
from perfpilot.engine.prepare import resolve_config
from perfpilot.engine.runner import run_benchmark
from perfpilot.errors import PerfpilotError
from perfpilot.results.db import index_record
from perfpilot.tasks import get_task
from perfpilot.tasks.imagenet.dataset import ImagenetDataset, make_synthetic_imagenet
from perfpilot.tasks.imagenet.standin import ensure_resnet50_standin
from perfpilot.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--backends", default="", help="comma-separated (default: all)")
    args = parser.parse_args()
    wanted = [b for b in args.backends.split(",") if b] or sorted(BACKENDS)

    os.environ.setdefault(
        "PERFPILOT_CACHE", str(Path(tempfile.gettempdir()) / "perfpilot-bench-cache")
    )
    tmp = Path(tempfile.mkdtemp(prefix="perfpilot-bench-backends-"))
    folder = make_synthetic_imagenet(tmp / "imagenet", count=args.images, seed=0)
    dataset = ImagenetDataset(folder)
    dataset.preprocessed()
    model = ensure_resnet50_standin()
    ws = Workspace(tmp / "ws", on_record=index_record)
    options = {
        "model": "resnet50-standin",
        "dataset_path": folder,
        "batch_size": args.batch_size,
        "min_duration_ms": int(args.seconds * 1000),
    }

    rows = []
    for name in wanted:
        if name == "null":
            continue
        try:
            cls = backend_class(name)
        except PerfpilotError as err:
            rows.append((name, None, None, f"skipped: {err.one_line()}"))
            continue
        # pytorch, tensorflow and tflite rebuild the stand-in from its ONNX weights.
        if ".onnx" not in cls.model_suffixes:
            rows.append((name, None, None, "skipped: cannot import the ONNX stand-in"))
            continue
        cfg = resolve_config(
            build_run_configs("Offline", "performance", backend=name, **options)[0]
        )  # type: ignore[arg-type]
        threads, bt = cfg.threads or 1, cfg.backend_threads or 1
        raws, ours = [], []
        for i in range(args.rounds):
            loader = get_task("imagenet").loader(name)
            config = BackendConfig(threads=bt, output_shape=(1001,), loader=loader)
            backend = create_backend(name, config)
            try:
                backend.load(model)  # tvm compiles here once; later loads read its cache
            except PerfpilotError as err:
                rows.append((name, None, None, f"skipped: {err.one_line()}"))
                break
            backend.warmup(dataset.samples(list(range(args.batch_size))))  # type: ignore[arg-type]
            raw = measure_throughput(backend, dataset, args.batch_size, threads, args.seconds)
            backend.close()
            (record,) = run_benchmark([cfg], ws, ["bench"])
            if record.result is None or record.result.metric is None:
                raise SystemExit(f"{name}: perfpilot run failed: {record.error}")
            raws.append(raw)
            ours.append(record.result.metric)
            print(
                f"  {name} round {i + 1}: raw {raw:8.2f}/s   perfpilot Offline "
                f"{record.result.metric:8.2f}/s ({'VALID' if record.result.valid else 'INVALID'})"
                f"   ratio {record.result.metric / raw:.3f}",
                flush=True,
            )
        if not raws:
            continue
        ratios = [o / r for o, r in zip(ours, raws, strict=True)]
        rows.append(
            (
                name,
                statistics.median(raws),
                statistics.median(ours),
                f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}); "
                f"{threads} worker(s) x {bt} thread(s)",
            )
        )

    print()
    print(
        f"ResNet50 v1.5 stand-in, batch {args.batch_size}, {args.images} synthetic images, "
        f"{args.seconds:.0f} s runs, {args.rounds} rounds, {os.cpu_count()} cores"
    )
    print("| backend | raw samples/s | perfpilot Offline samples/s | ratio b/a |")
    print("|---|---|---|---|")
    for name, raw, ours, note in rows:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"| {name} | {fmt(raw)} | {fmt(ours)} | {note} |")


if __name__ == "__main__":
    main()
