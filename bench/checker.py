"""How fast is `perfpilot submission check` beside the official checker, and `perfpilot --help`?

    python bench/checker.py TREE --round v5.1 --official tools/submission \\
        [--official-python PY] [--rounds 5]

TREE holds closed/ or open/ (e.g. a submitter tree copied by `bench/conformance.py
prepare`: closed/NVIDIA of v5.1 has 1,133 files); --official is the tools/submission
folder of mlcommons/inference at the round's tag. Each round runs both checkers once on
the same tree, in alternating order, each in a fresh process writing its summary CSV, as
a user runs them. Then `python -c pass` and `python -m perfpilot --help`, alternating, 10
times. Medians of wall-clock and CPU (user + system) seconds; the ratio is perfpilot's
over the official checker's. Byte-code caches are written (one untimed run of each
first), as in a normal install. The load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path | None, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall and CPU seconds of one child process, and its exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--round", required=True)
    parser.add_argument("--official", type=Path, required=True, help="tools/submission folder")
    parser.add_argument("--official-python", default=sys.executable)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT / "src")
    tree = args.tree.resolve()
    files = sum(1 for p in tree.rglob("*") if p.is_file())
    out = Path(tempfile.mkdtemp(prefix="checker-bench-"))
    official = [
        args.official_python,
        "submission_checker.py",
        "--input",
        str(tree),
        "--version",
        args.round,
        "--csv",
        str(out / "official.csv"),
    ]
    ours = [sys.executable, "-m", "perfpilot", "submission", "check", str(tree)]
    ours += ["--round", args.round, "--csv", str(out / "perfpilot.csv")]
    commands = {"official": (official, args.official), "perfpilot": (ours, None)}

    print(
        f"tree {tree} ({files} files), round {args.round}; {os.cpu_count()} cores, "
        f"load average {_load()}"
    )
    for cmd, cwd in commands.values():
        timed(cmd, cwd, env)  # untimed: byte-code caches, file cache
    walls: dict[str, list[float]] = {"official": [], "perfpilot": []}
    cpus: dict[str, list[float]] = {"official": [], "perfpilot": []}
    for i in range(args.rounds):
        order = ["official", "perfpilot"] if i % 2 == 0 else ["perfpilot", "official"]
        line = []
        for name in order:
            wall, cpu, status = timed(*commands[name], env)
            walls[name].append(wall)
            cpus[name].append(cpu)
            line.append(f"{name} {wall:5.2f} s (cpu {cpu:5.2f} s, exit {status})")
        print(f"  round {i + 1}: " + "   ".join(line))
    med = {n: (statistics.median(walls[n]), statistics.median(cpus[n])) for n in walls}
    print(
        f"check, median wall: official {med['official'][0]:.2f} s, perfpilot "
        f"{med['perfpilot'][0]:.2f} s, ratio {med['perfpilot'][0] / med['official'][0]:.2f}"
    )
    print(
        f"check, median cpu:  official {med['official'][1]:.2f} s, perfpilot "
        f"{med['perfpilot'][1]:.2f} s, ratio {med['perfpilot'][1] / med['official'][1]:.2f}"
    )

    start_cmds = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "perfpilot --help": ([sys.executable, "-m", "perfpilot", "--help"], None),
    }
    for cmd, cwd in start_cmds.values():
        timed(cmd, cwd, env)
    st_wall: dict[str, list[float]] = {n: [] for n in start_cmds}
    st_cpu: dict[str, list[float]] = {n: [] for n in start_cmds}
    for i in range(10):
        names = list(start_cmds) if i % 2 == 0 else list(reversed(start_cmds))
        for name in names:
            wall, cpu, _ = timed(*start_cmds[name], env)
            st_wall[name].append(wall)
            st_cpu[name].append(cpu)
    base, helpt = "python -c pass", "perfpilot --help"
    for label, data in (("wall", st_wall), ("cpu ", st_cpu)):
        b, h = statistics.median(data[base]), statistics.median(data[helpt])
        print(
            f"start-up, median {label}: python -c pass {b:.3f} s, perfpilot --help {h:.3f} s, "
            f"difference {h - b:.3f} s"
        )
    print(f"load average at the end {_load()}")
    return 0


def _load() -> str:
    """The 1-minute load average: on a shared machine the wall-clock figures follow it."""
    return f"{os.getloadavg()[0]:.2f}"


if __name__ == "__main__":
    sys.exit(main())
