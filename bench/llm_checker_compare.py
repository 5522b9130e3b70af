"""Do perfpilot's checker and the official one agree on a submission tree?

Runs perfpilot's checker on TREE for ROUND and compares it, result by result, with the
summary CSV the official checker wrote for the same tree: which results pass (the
official CSV lists only those), and for each every column of the summary row. With
--mutate it also breaks a copy of the tree in the ways the LLM rules cover (TTFT over
the bound, accuracy under target, generated length out of range, TEST06 failed, Server
and Interactive both missing) and reports whether perfpilot fails the mutated result
(run the official checker on the copies it leaves with --keep).
With --test06 it recomputes each TEST06 verdict from the test's accuracy log
(perfpilot.submission.test06) and compares it with the submitter's verify_accuracy.txt.

Nothing is fetched: give a tree on disk and the official CSV made from it, e.g.

    python tools/submission/submission_checker.py --input TREE --version v5.1 \\
        --csv official.csv --skip-power-check            # v5.1 (single-file checker)
    cd tools/submission && python -m submission_checker.main --input TREE \\
        --version v6.0 --csv official.csv --skip-power-check   # v6.x (modular checker)
    python bench/llm_checker_compare.py TREE --round v5.1 --official-csv official.csv

Exit status 0 when every compared result agrees, 1 otherwise. docs/submission-llm.md
has the figures of the published trees it was run on.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from perfpilot.errors import UsageError
from perfpilot.submission import test06
from perfpilot.submission.check import check_tree, read_csv_rows
from perfpilot.submission.tree import read_tree

# Every column of the official row is compared but Location (a path, as given) and
# design_power_watts (v6.x: "" with --skip-power-check, "None" without; not LLM-specific).
SKIP_COLUMNS = ("Location", "design_power_watts")


def _key(location: str) -> str:
    """division/submitter/results/system/model/scenario of a Location cell (the v6.x
    checker writes the path of the performance run, as given)."""
    parts = location.strip('"').replace("\\", "/").split("/")
    if parts[-2:] == ["performance", "run_1"]:
        parts = parts[:-2]
    return "/".join(parts[-6:])


def compare(tree: Path, round_name: str, official_csv: Path) -> int:
    report = check_tree(tree, round_name)
    ours = {_key(r["Location"]): r for r in read_csv_rows(report.csv_text())}
    passed = {row.location for row in report.results if row.passed}
    theirs = {_key(r["Location"]): r for r in read_csv_rows(official_csv.read_text())}
    disagree = 0
    print(f"{'result':70} {'perfpilot':9} {'official':9} columns")
    for loc in sorted(set(ours) | set(theirs)):
        mine = "pass" if loc in passed else "fail"
        official = "pass" if loc in theirs else "fail"
        diff = ""
        if loc in theirs and loc in ours:
            cols = [
                c
                for c, value in theirs[loc].items()
                if c not in SKIP_COLUMNS and ours[loc].get(c, "").strip('"') != value.strip('"')
            ]
            diff = "same" if not cols else "differ: " + ", ".join(cols)
        agree = mine == official and diff in ("", "same")
        disagree += not agree
        print(f"{loc:70} {mine:9} {official:9} {diff}{'' if agree else '  <-- DISAGREE'}")
    for finding in report.errors:
        print("  perfpilot:", finding.line())
    print(f"{len(ours)} results, {disagree} disagreement(s)")
    return 1 if disagree else 0


# ------------------------------------------------------------------ TEST06 verdicts

# EOS token ids of the models' tokenizers (Llama 3.1 <|eot_id|>, Llama 2 </s>,
# DeepSeek-R1 end of sentence): what the submitters passed to compliance/TEST06.
EOS_IDS = {"llama3.1-8b": 128009, "llama2-70b-99": 2, "llama2-70b-99.9": 2, "deepseek-r1": 1}


def recompute_test06(tree: Path, dtypes: dict[str, str]) -> int:
    """perfpilot's TEST06 verdicts of every TEST06 accuracy log in the tree against the
    submitter's verify_accuracy.txt (both layouts)."""
    disagree = 0
    for entry in read_tree(tree).entries:
        test = entry.compliance.get("TEST06")
        log = test.path / "accuracy" / "mlperf_log_accuracy.json" if test else None
        if test is None or log is None or not log.is_file():
            continue
        eos = EOS_IDS.get(entry.mlperf_model)
        if eos is None:
            continue
        try:
            dtype = dtypes.get(entry.submitter, "int32")
            mine = test06.verify_log(log, entry.scenario, eos, dtype).text().splitlines()[:3]
        except UsageError as err:  # some submitters truncated it like an accuracy log
            print(f"TEST06 {entry.location:70} not recomputed: {err.message}")
            continue
        theirs = (test.path / "verify_accuracy.txt").read_text().splitlines()[:3]
        same = [m.strip() for m in mine] == [t.strip() for t in theirs]
        disagree += not same
        print(f"TEST06 {entry.location:70} {'same' if same else 'DIFFERENT'}: {'; '.join(mine)}")
    return 1 if disagree else 0


# --------------------------------------------------------------------------- mutations


def _set_key(path: Path, key: str, value: str) -> None:
    text = path.read_text()
    new = re.sub(r'("key": "' + re.escape(key) + r'", "value": )([^,]*)', r"\g<1>" + value, text)
    path.write_text(new)


def _first(tree: Path, pattern: str) -> Path | None:
    return next(iter(sorted(tree.glob(pattern))), None)


def _ttft(t: Path) -> str | None:
    for scen in ("Interactive", "Server"):
        detail = _first(t, f"*/*/results/*/*/{scen}/performance/run_1/mlperf_log_detail.txt")
        if detail is not None:
            _set_key(detail, "result_first_token_99.00_percentile_latency_ns", "99000000000")
            return str(detail)
    return None


def _accuracy_txt(t: Path, metric: str, value: str) -> str | None:
    """Change ``metric`` (a regex of the key) in the first accuracy.txt that has it."""
    for acc in sorted(t.glob("*/*/results/*/*/*/accuracy/accuracy.txt")):
        text = acc.read_text()
        new = re.sub(r"('(?:" + metric + r")':\s*)[\d.]+", r"\g<1>" + value, text)
        if new != text:
            acc.write_text(new)
            return str(acc)
    return None


def _test06(t: Path) -> str | None:
    verify = _first(t, "*/*/**/TEST06/verify_accuracy.txt")
    if verify is None:
        return None
    verify.write_text(verify.read_text().replace("EOS check pass: True", "EOS check pass: False"))
    return str(verify)


def _no_server(t: Path) -> str | None:
    for model in sorted(t.glob("closed/*/results/*/*")):
        if (model / "Server").is_dir() or (model / "Interactive").is_dir():
            shutil.rmtree(model / "Server", ignore_errors=True)
            shutil.rmtree(model / "Interactive", ignore_errors=True)
            return str(model)
    return None


MUTATIONS: dict[str, Callable[[Path], str | None]] = {
    "ttft-over-bound": _ttft,
    "rouge-under-target": lambda t: _accuracy_txt(t, "rouge1", "1.0"),
    # whichever length the model is gated on (gen_len or tokens_per_sample)
    "gen-len-out-of-range": lambda t: _accuracy_txt(t, "gen_len|tokens_per_sample", "1"),
    "test06-eos-failed": _test06,
    "server-and-interactive-missing": _no_server,
}


def mutate(tree: Path, round_name: str, keep: Path | None) -> int:
    bad = 0
    base = keep or Path(tempfile.mkdtemp(prefix="llm-mutations-"))
    for name, change in MUTATIONS.items():
        copy = base / name
        shutil.copytree(tree, copy)
        where = change(copy)
        if where is None:
            print(f"{name:32} not applicable to this tree")
            continue
        report = check_tree(copy, round_name)
        rules = sorted({f.rule for f in report.errors})
        caught = not report.ok
        bad += not caught
        print(f"{name:32} perfpilot {'fails it' if caught else 'PASSES it'} ({', '.join(rules)})")
    if keep is None:
        shutil.rmtree(base)
    else:
        print(f"mutated copies kept under {base} for the official checker")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path, help="submission tree (holds closed/ or open/)")
    parser.add_argument("--round", required=True, help="round to check against (v5.1, v6.0)")
    parser.add_argument("--official-csv", type=Path, help="the official checker's summary CSV")
    parser.add_argument("--mutate", action="store_true", help="also check broken copies")
    parser.add_argument("--keep", type=Path, help="folder for the broken copies (kept)")
    parser.add_argument(
        "--test06", action="store_true", help="recompute TEST06 verdicts from its logs"
    )
    parser.add_argument(
        "--test06-dtype",
        action="append",
        default=[],
        metavar="SUBMITTER=DTYPE",
        help="token dtype of a submitter's logs (default int32; e.g. Intel=int64)",
    )
    args = parser.parse_args()
    read_tree(args.tree)  # refuses a folder that is not a tree
    status = 0
    if args.official_csv:
        status |= compare(args.tree, args.round, args.official_csv)
    if args.test06:
        dtypes = dict(item.split("=", 1) for item in args.test06_dtype)
        status |= recompute_test06(args.tree, dtypes)
    if args.mutate:
        status |= mutate(args.tree, args.round, args.keep)
    return status


if __name__ == "__main__":
    sys.exit(main())
