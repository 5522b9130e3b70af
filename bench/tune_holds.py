"""Does a tuned Server value hold? Tune once, then re-run the saved profile N times.

The flow a user follows (issue 20): ``perfpilot tune --scenario Server --save NAME``, then
``perfpilot run --settings NAME --scenario Server --mode performance``. Each re-run is a
fresh process, as a user's would be; LoadGen's verdict decides. Prints how many re-runs
were VALID, with each one's QPS and p99 against the bound. Run it on a quiet machine: a
busy one measures the neighbours, not the tuner.

Usage: python bench/tune_holds.py [--model digits-cnn] [--backend onnxruntime]
                                  [--reruns 10] [--budget 3m] [--min-duration SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PERFPILOT = [sys.executable, "-m", "perfpilot"]


def perfpilot(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [*PERFPILOT, "--workspace", str(workspace), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--budget", default="3m")
    parser.add_argument("--min-duration", type=float, default=None,
                        help="seconds per re-run (default: the test-length run's own)")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1] / "src"))

    with tempfile.TemporaryDirectory(prefix="tune-holds-") as tmp:
        ws = Path(tmp)
        base = ["--model", args.model, "--backend", args.backend]
        t0 = time.monotonic()
        tuned = perfpilot(ws, "tune", *base, "--scenario", "Server", "--budget", args.budget,
                          "--save", "holds", "--json")  # fmt: skip
        if tuned.returncode != 0:
            sys.exit(f"tune failed ({tuned.returncode}): {tuned.stderr.strip()[-400:]}")
        profile = (ws / "settings" / "holds.yaml").read_text()
        print(f"tune: {time.monotonic() - t0:.0f} s; profile:\n{profile}")

        extra = ["--min-duration", str(args.min_duration)] if args.min_duration else []
        valid = 0
        for i in range(args.reruns):
            done = perfpilot(ws, "run", "--settings", "holds", "--scenario", "Server",
                             "--mode", "performance", "--json", *extra)  # fmt: skip
            if done.returncode not in (0, 1):
                sys.exit(f"re-run {i + 1} failed ({done.returncode}): {done.stderr[-400:]}")
            rec = json.loads(done.stdout)[0]
            res = rec["result"]
            ok = res["valid"] is True
            valid += ok
            eff = res["effective"]
            print(
                f"re-run {i + 1:2d}: {'VALID  ' if ok else 'INVALID'} "
                f"target {eff['target_qps']:.1f} QPS for {res['duration_s']:.1f} s, "
                f"completed {res['metric']:.1f} {res['metric_unit']}, "
                f"p99 {res['latency_ns']['p99'] / 1e6:.2f} ms "
                f"(bound {eff['target_latency_ns'] / 1e6:g} ms)"
                + ("" if ok else f": {'; '.join(res['invalid_reasons'])}")
            )
        print(f"\n{valid} of {args.reruns} re-runs VALID")


if __name__ == "__main__":
    main()
