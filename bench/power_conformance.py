"""perfpilot's power-session rules beside the official power checker, session by session.

    python bench/power_conformance.py [--mirrors /work/.mirror] [--work /tmp/power-conf]

1. Published sessions: every ``performance/`` folder with a ``power/`` folder in the local
   mirrors of mlcommons/inference_results_<round> (bare git dirs) is copied out and
   checked by the official ``tools/submission/power/power_checker.py`` of that round
   (taken from the mirror of mlcommons/inference) and by perfpilot
   (``check.power.session_findings``); the two verdicts must be the same.
2. Defects: each single-defect copy of tests/test_power_session.py (DEFECTS, made from a
   committed published session) is checked by the official power checker, whose verdict
   must be the one the test records.

Prints one line per session that disagrees and a count; exit 1 on any disagreement.
Nothing is fetched: a mirror that is not there is skipped and named.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from conformance import checker_source, extract, mirror_repo  # noqa: E402
from perfpilot.submission.check.findings import ERROR  # noqa: E402
from perfpilot.submission.check.power import session_findings  # noqa: E402

ROUNDS = {"v4.1": "v4.1", "v5.1": "v5.1"}  # results round -> tag of its checker
DONE = ".complete"  # written last: a session folder without it is copied again


def official_checker(mirrors: Path, tag: str, work: Path) -> Path:
    """The official power checker of ``tag`` (with its sources_checksums.json)."""
    return checker_source(mirrors, tag, work) / "power" / "power_checker.py"


def official_ok(checker: Path, perf: Path) -> bool:
    proc = subprocess.run(
        [sys.executable, str(checker), str(perf)], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0


# perfpilot refuses on purpose what the official power checker misses (docs/submission.md,
# "Power"): an ERROR line of the PTD log after an earlier warning (it stops reading at the
# first warning) and an uncertainty over 1% in a testing run under 27 minutes (its 800 ms
# margin is taken as 800 s).
DELIBERATE = ("an error outside the ranging run", "uncertainty over 1% during the testing run")


def perfpilot_ok(perf: Path, round_name: str) -> tuple[bool, str, bool]:
    """perfpilot's verdict, its first error, and whether every error is a DELIBERATE one."""
    errors = [f for f in session_findings(perf, round_name) if f.severity == ERROR]
    deliberate = bool(errors) and all(
        f.rule == "power-log" and any(d in f.message for d in DELIBERATE) for f in errors
    )
    return not errors, errors[0].line() if errors else "", deliberate


def published_sessions(mirrors: Path, round_name: str, work: Path) -> list[Path]:
    """Copy every power session of the round's results mirror into ``work`` (a blob the
    partial mirror lacks is left out and named: the session then fails both checkers)."""
    repo = mirror_repo(mirrors, f"mlcommons/inference_results_{round_name}")
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", "HEAD"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    suffix = "/power/client.json"
    perfs = sorted(p[: -len(suffix)] for p in map(bytes.decode, listing) if p.endswith(suffix))
    dest = work / "sessions" / round_name
    for perf in perfs:
        if not (dest / perf / DONE).exists():
            shutil.rmtree(dest / perf, ignore_errors=True)  # a half-copied session
            for path in extract(repo, perf + "/", dest):
                print(f"the mirror lacks {path}")
            (dest / perf / DONE).touch()
    return [dest / p for p in perfs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/power-conformance"))
    args = parser.parse_args()
    disagree = deliberate = checked = 0
    for round_name, tag in ROUNDS.items():
        if not mirror_repo(args.mirrors, f"mlcommons/inference_results_{round_name}").exists():
            print(f"{round_name}: no mirror of its results, skipped")
            continue
        checker = official_checker(args.mirrors, tag, args.work)
        for perf in published_sessions(args.mirrors, round_name, args.work):
            checked += 1
            theirs = official_ok(checker, perf)
            ours, why, on_purpose = perfpilot_ok(perf, round_name)
            if theirs == ours:
                continue
            label = "DELIBERATE" if theirs and on_purpose else "DIFFERENT"
            deliberate += label == "DELIBERATE"
            disagree += label == "DIFFERENT"
            print(
                f"{label} {round_name} {perf.relative_to(args.work)}: official ok={theirs}: {why}"
            )
    print(
        f"published sessions: {checked} checked, {disagree} verdicts differ, "
        f"{deliberate} more refused on purpose"
    )
    sys.path.insert(0, str(ROOT / "tests"))
    from test_power_session import DEFECTS, SOURCE, make_copy  # type: ignore[import-not-found]

    checker = official_checker(args.mirrors, SOURCE.round, args.work)
    wrong = 0
    for defect in DEFECTS:
        perf = make_copy(args.work / "defects" / defect.name, defect)
        theirs = official_ok(checker, perf)
        if theirs != defect.official_ok:
            wrong += 1
            print(
                f"DEFECT {defect.name}: official ok={theirs}, the test records {defect.official_ok}"
            )
        shutil.rmtree(perf.parent, ignore_errors=True)
    print(f"defects: {len(DEFECTS)} checked, {wrong} official verdicts differ from the test's")
    return 1 if disagree or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
