"""perfpilot's `submission check` beside the official checker on published trees.

Two steps:

    python bench/conformance.py prepare --python /tmp/venv/bin/python
        For each tree of SUITE: copy it out of the local mirror of
        mlcommons/inference_results_<round> (a bare git dir; or of the case's source at
        its ref, where a fork or a submitter's own repository stands in) into WORK/trees,
        run the official checker of the round (tools/submission at the checker's tag,
        taken from the mirror of mlcommons/inference: submission_checker.py up to v5.1,
        the submission_checker package for v6.x) on it with --python (the package needs
        PyYAML), and store its verdict and
        summary CSV under tests/data/conformance/<round>/<tree>/official/. For the trees
        marked `trim`, also write the trimmed copy the tests use (results, measurements,
        compliance, system descriptions and power logs; no code, no images) under
        .../<tree>/tree/ and check that the official checker says the same of it.

    python bench/conformance.py [compare] [--work WORK]
        Check every tree present (the full copy in WORK/trees, else the committed trimmed
        one) with perfpilot, compare verdict and CSV with the stored official output, and
        print one line per tree: rows each side passes, differences, and how many of those
        are in the known-differences table. Exit 1 if any difference is unexplained.

Nothing is fetched from the network: the mirrors are bare git dirs under --mirrors
(default /work/.mirror, `owner+name/repo`). A blob the mirror lacks is skipped and named.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from perfpilot.submission.check import check_tree, read_csv_rows  # noqa: E402
from perfpilot.submission.conformance import (  # noqa: E402
    SUMMARY_FILE,
    VERDICT_FILE,
    Difference,
    OfficialOutput,
    compare,
    compare_import,
    explained,
    parse_log,
    read_official,
)

DATA = ROOT / "tests" / "data" / "conformance"
KNOWN = DATA / "known_differences.json"


@dataclass(frozen=True)
class Case:
    """One published submitter tree of the suite."""

    round: str  # v4.1, v5.1, ...
    tree: str  # division/submitter
    checker: str  # the tag of mlcommons/inference whose tools/submission checks it
    trim: bool  # commit a trimmed copy for the tests (CI has no network)
    why: str  # what it covers
    systems: tuple[str, ...] = ()  # the trimmed copy keeps only these systems (all if empty)
    # where the round's results are: a mirror (owner/name) and a commit of it; a fork
    # stands in where the upstream snapshot is too large (its commit = upstream's last)
    source: str = ""
    ref: str = "HEAD"
    label: str = ""  # tells two trees of one submitter apart (from two sources)
    models: tuple[str, ...] = ()  # the trimmed copy keeps only these model folders (all if empty)

    @property
    def mirror(self) -> str:
        return self.source or f"mlcommons/inference_results_{self.round}"

    @property
    def name(self) -> str:
        return self.tree.replace("/", "_") + (f"_{self.label}" if self.label else "")


# v5.0: the published repository has too many files to fetch here; two v5.0 submitters
# own submission repositories (the trees they checked and submitted with the v5.0
# automation, not the published copies) stand in for it
_V50G = {"source": "GATEOverflow/mlperf_inference_submissions_v5.0"}
_V50U = {"source": "mlcommons/mlperf_inference_unofficial_submissions_v5.0", "label": "unofficial"}
_V50T = {"source": "mlcommons/mlperf_inference_test_submissions_v5.0", "label": "test"}

# v6.0: the upstream snapshot is too large to fetch here; a fork's history holds the
# published tree at upstream's last commit (the fork's later commits add a tree of its own)
_V60 = {
    "source": "gbeezybez/inference_results_v6.0",
    "ref": "4d3916ac9cf474b679cdfcf492d43a0559418ad1",
}

SUITE = (
    Case("v4.1", "closed/ConnectTechInc", "v4.1", True, "edge SingleStream, gptj (LLM)"),
    Case("v4.1", "closed/RedHat", "v4.1", False, "llama2-70b tokens/s (vLLM)"),
    Case("v4.1", "open/CTuning", "v4.1", True, "open division, sdxl and resnet50"),
    Case("v4.1", "closed/NeuralMagic", "v4.1", False, "llama2-70b on CPU"),
    Case(
        "v4.1",
        "closed/UntetherAI",
        "v4.1",
        True,
        "power (PTD logs, spl.txt), lower-case scenario folders",
        systems=("h13_u3_slim",),  # its power results; the whole tree is 19 MB
    ),
    Case("v4.1", "open/Krai", "v4.1", False, "open division, KILT on Qualcomm AI 100"),
    Case("v4.1", "closed/Google", "v4.1", False, "TPU, 965 files, power"),
    Case("v5.1", "open/Lenovo", "v5.1.1", True, "MultiStream inferred from SingleStream"),
    Case("v5.1", "closed/RedHat", "v5.1.1", True, "llama3.1-8b tokens/s, TEST06"),
    Case("v5.1", "open/NVIDIA", "v5.1.1", False, "open division, edge"),
    Case("v5.1", "closed/University-of-Florida", "v5.1.1", False, "sdxl, llama2-70b, power"),
    Case("v5.1", "closed/Lenovo", "v5.1.1", False, "power (spl.txt), edge"),
    Case("v5.1", "closed/Intel", "v5.1.1", False, "CPU, edge SingleStream"),
    Case("v5.1", "closed/AMD", "v5.1.1", False, "llama2-70b, sdxl on MI325X"),
    Case("v5.1", "closed/The_Stage", "v5.1.1", False, "sdxl only"),
    Case("v5.1", "open/AMD_MangoBoost", "v5.1.1", False, "open division, multi-node LLM"),
    Case("v5.1", "closed/NVIDIA", "v5.1.1", False, "1,133 files: every model of the round"),
    Case(
        "v5.0",
        "closed/GATEOverflow",
        "v5.0.1",
        True,
        "edge and datacenter, classic models, lower-case folders; trimmed to 3d-unet-99",
        systems=("RTX4090x2-nvidia-gpu-TensorRT-default_config",),
        models=("3d-unet-99",),
        **_V50G,
    ),
    Case(
        "v5.0", "closed/MLCommons", "v5.0.1", False, "bert, 3d-unet, retinanet, resnet50", **_V50G
    ),
    Case("v5.0", "open/MLCommons", "v5.0.1", False, "open division, 4,149 files", **_V50G),
    Case(
        "v5.0",
        "closed/MLCommons",
        "v5.0.1",
        True,
        "rgat (its accuracy detail log not in the snapshot: refused by both)",
        systems=("mlc-server-reference-gpu-pytorch_v2.4.0-cu124",),
        **_V50U,
    ),
    Case("v5.0", "open/MLCommons", "v5.0.1", False, "CI test runs: mixtral, rgat, sdxl", **_V50T),
    Case(
        "v5.0",
        "open/MLCommons",
        "v5.0.1",
        True,
        "open: sdxl (v5.0 misreads its accuracy), pointpainting (not a v5.0 model)",
        systems=(
            "gh_action-reference-gpu-pytorch_v2.5.1-cu124",
            "mlc-server-reference-gpu-pytorch_v2.2.2-cu124",
        ),
        **_V50U,
    ),
    Case(
        "v6.0",
        "closed/Lambda_SIT",
        "master",
        False,
        "llama3.1-8b, gpt-oss-120b, Interactive",
        **_V60,
    ),
    Case("v6.0", "open/NVIDIA", "master", True, "open division, llama3.1-8b-edge", **_V60),
    Case(
        "v6.0",
        "closed/GATEOverflow",
        "master",
        True,
        "edge yolo, lower-case scenario folders (the modular checker flags them inferred)",
        systems=("Lenovo_IdeaPad_Gaming_3_Ryzen_5_4600H-reference-gpu-pytorch_v2.5.0a0-cu126",),
        **_V60,
    ),
    Case("v6.0", "open/Krai", "master", False, "open division, wan-2.2, llama3.1-70b", **_V60),
    Case("v6.0", "closed/Krai", "master", True, "wan-2.2 without videos (refused by both)", **_V60),
    Case("v6.0", "closed/MiTAC", "master", False, "llama2-70b, Interactive", **_V60),
    Case("v6.0", "closed/ASUSTeK", "master", False, "whisper, llama3.1-8b", **_V60),
    Case(
        "v6.0",
        "closed/RedHat",
        "master",
        True,
        "whisper, qwen3-vl; trimmed to a whisper system whose accuracy log lost its hash",
        systems=("2xL40S_RHEL9",),
        **_V60,
    ),
    Case("v6.0", "closed/Dell_MangoBoost", "master", False, "published checker log", **_V60),
    Case("v6.0", "closed/Netweb_technologies", "master", False, "dlrm-v3, whisper", **_V60),
    Case("v6.0", "closed/Google", "master", False, "deepseek-r1, dlrm-v3, qwen3-vl", **_V60),
    Case("v6.0", "closed/NVIDIA", "master", False, "909 files: most models of the round", **_V60),
    Case("v6.0", "closed/CoreWeave", "master", False, "deepseek-r1, gpt-oss-120b", **_V60),
    Case(
        "v6.0",
        "closed/HPE",
        "master",
        True,
        "1,351 files, resnet MultiStream; trimmed to llama3.1-8b with Interactive",
        systems=("HPE_PROLIANT_DL145_RTX_PRO_4500_PCIE_32GBx1_TRT_DC_TRT",),
        **_V60,
    ),
    Case("v6.0", "open/Lambda_SIT", "master", False, "open division, gpt-oss-120b", **_V60),
    Case(
        "v6.0", "open/Supermicro_RedHat", "master", True, "open division, gpt-oss on vLLM", **_V60
    ),
    Case("v6.0", "open/CoreWeave", "master", False, "open division, deepseek-r1", **_V60),
)

# What a trimmed tree keeps: the files the checkers read, nothing else.
_KEEP_NAMES = {
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "mlperf_log_accuracy.json",
    "accuracy.txt",
    "verify_accuracy.txt",
    "verify_performance.txt",
    "baseline_accuracy.txt",  # TEST01's accuracy folder
    "compliance_accuracy.txt",
    "user.conf",
    "mlperf.conf",
    "README.md",
    "spl.txt",
    "client.json",
    "client.log",
    "ptd_logs.txt",
    "server.json",
    "server.log",
    "model_mapping.json",
    "calibration.md",
}
# the power measurement descriptions the official checker asks for (any extension)
_POWER_MEASUREMENTS = ("analyzer_table.", "power_settings.")
_SRC_NOTE = (
    "Trimmed copy for perfpilot's conformance tests: the submitter's code is not included.\n"
)
_KEEP_DIRS = ("results", "measurements", "compliance", "systems", "documentation")


def mirror_repo(mirrors: Path, name: str) -> Path:
    return mirrors / name.replace("/", "+") / "repo"


def extract(repo: Path, prefix: str, dest: Path, ref: str = "HEAD") -> list[str]:
    """Copy the files under ``prefix`` at ``ref`` of a bare repo into ``dest``; returns the
    paths whose blobs the mirror lacks (a partial snapshot keeps its largest files out)."""
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", ref, prefix],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    blobs = []
    for line in filter(None, listing):
        meta, path = line.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind == b"blob" and mode != b"120000":
            blobs.append((sha, path.decode()))
    missing = []
    with subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for sha, path in blobs:
            proc.stdin.write(sha + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if header[1] == b"missing":
                missing.append(path)
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            out = dest / path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        proc.stdin.close()
    return missing


def trim(
    src: Path, dst: Path, tree: str, systems: tuple[str, ...] = (), models: tuple[str, ...] = ()
) -> None:
    """Copy what the checkers read of ``src/<tree>`` to ``dst/<tree>``: the log, accuracy,
    configuration, system and power files; of code/, only the READMEs of the model
    folders (the checkers look for the folder, never into it)."""
    base = src / tree
    for path in sorted(base.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(base)
        top = rel.parts[0]
        if systems and top in _KEEP_DIRS[:4] and len(rel.parts) > 1:
            system = rel.parts[1].removesuffix(".json") if top == "systems" else rel.parts[1]
            if system not in systems:
                continue
        if models and top in _KEEP_DIRS[:3] and len(rel.parts) > 2 and rel.parts[2] not in models:
            continue
        keep = False
        if top in _KEEP_DIRS and len(rel.parts) > 1:
            keep = (
                path.name in _KEEP_NAMES
                or path.name.startswith(_POWER_MEASUREMENTS)
                or (top in ("systems", "results", "measurements") and path.suffix == ".json")
            )
            keep = keep or ("/power/" in f"/{rel.as_posix()}" and path.suffix in (".txt", ".json"))
            keep = keep and path.name != "mlperf_log_trace.json"
        elif top == "code" and len(rel.parts) in (3, 4) and path.name == "README.md":
            keep = True
        elif top == "src":
            # from v6.0 the checker wants src/ there and never looks into it: one note
            # stands in for the submitter's code and its READMEs
            note = dst / tree / "src" / "README.md"
            note.parent.mkdir(parents=True, exist_ok=True)
            note.write_text(_SRC_NOTE)
        elif len(rel.parts) == 1 and path.suffix in (".md", ".txt"):
            keep = path.name != "submission_checker_log.txt"
        if keep:
            out = dst / tree / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)


def checker_source(mirrors: Path, tag: str, work: Path) -> Path:
    """tools/submission of mlcommons/inference at ``tag``, extracted once under WORK: the
    checker (one script up to v5.1, the ``submission_checker`` package from 2026 on) and
    the power checker; not the sample trees, whose blobs the mirror may lack."""
    dest = work / "checker" / tag
    tools = dest / "tools" / "submission"
    if not (tools / "submission_checker.py").exists() and not (tools / _PACKAGE).is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        repo = mirror_repo(mirrors, "mlcommons/inference")
        names = subprocess.run(
            ["git", "-C", str(repo), "ls-tree", "--name-only", tag, "tools/submission/"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout.split()
        wanted = [n for n in names if n.endswith(".py") or n.endswith(("/power", _PACKAGE))]
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", tag, *wanted],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return tools


_PACKAGE = "submission_checker"  # the modular checker (master, used for v6.0 and v6.1)


def run_official(
    python: str, source: Path, tree: Path, round_name: str, tag: str, out: Path
) -> tuple[dict[str, object], float]:
    """Run the official checker on ``tree``; store verdict.json and summary.csv in out."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / SUMMARY_FILE
    start = time.perf_counter()
    entry = ["-m", f"{_PACKAGE}.main"] if (source / _PACKAGE).is_dir() else [f"{_PACKAGE}.py"]
    proc = subprocess.run(
        [
            python,
            *entry,
            "--input",
            str(tree),
            "--version",
            round_name,
            "--csv",
            str(csv_path),
        ],
        cwd=source,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    # the package checker names absolute paths: keep them relative to the tree, as the
    # v4.1-v5.1 script does, so that the full and the trimmed copy compare equal
    log = proc.stderr.replace(f"{tree.resolve()}/", "").replace(f"{tree}/", "")
    verdict = parse_log(log, proc.returncode, f"mlcommons/inference@{tag}")
    if csv_path.exists():  # its Location column too
        text = csv_path.read_text(encoding="utf-8")
        csv_path.write_text(text.replace(f'"{tree}/', '"'), encoding="utf-8")
    (out / VERDICT_FILE).write_text(json.dumps(verdict, indent=1) + "\n", encoding="utf-8")
    return verdict, elapsed


def prepare(args: argparse.Namespace) -> int:
    work: Path = args.work
    for case in _selected(args):
        repo = mirror_repo(args.mirrors, case.mirror)
        if not repo.exists():
            print(f"{case.round} {case.tree}: no mirror at {repo}, skipped")
            continue
        full = work / "trees" / case.round / case.name
        if not (full / case.tree).exists():
            missing = extract(repo, case.tree, full, case.ref)
            for path in missing:
                print(f"  the mirror lacks {path}")
        source = checker_source(args.mirrors, case.checker, work)
        dest = DATA / case.round / case.name
        verdict, took = run_official(
            args.python, source, full, case.round, case.checker, dest / "official"
        )
        print(f"{case.round} {case.tree}: official {verdict['summary']} ({took:.2f} s)")
        if case.trim:
            shutil.rmtree(dest / "tree", ignore_errors=True)
            trim(full, dest / "tree", case.tree, case.systems, case.models)
            scratch = work / "trimmed-official" / case.round / case.name
            again, _ = run_official(
                args.python, source, dest / "tree", case.round, case.checker, scratch
            )
            same = (
                again == verdict
                and (scratch / SUMMARY_FILE).read_text()
                == (dest / "official" / SUMMARY_FILE).read_text()
            )
            print(f"  trimmed copy: {_du(dest / 'tree')}; official output the same: {same}")
            if not same:
                shutil.copytree(scratch, dest / "tree-official", dirs_exist_ok=True)
    return 0


def _du(path: Path) -> str:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return f"{total / 1e6:.2f} MB"


def known_differences() -> list[dict[str, Any]]:
    """The committed table of differences perfpilot keeps on purpose or has not fixed."""
    entries: list[dict[str, Any]] = json.loads(KNOWN.read_text(encoding="utf-8"))["differences"]
    return entries


def official_dir(round_name: str, name: str, trimmed: bool) -> Path:
    dest = DATA / round_name / name
    if trimmed and (dest / "tree-official").exists():
        return dest / "tree-official"
    return dest / "official"


def compare_all(args: argparse.Namespace) -> int:
    known = known_differences()
    unexplained = 0
    used: set[int] = set()
    print(
        f"{'round':5} {'tree':32} {'copy':7} {'official':9} {'perfpilot':9} "
        f"{'rows o/p':9} {'diffs':5} {'known':5} {'s':>5}"
    )
    for case in _selected(args):
        shown = case.tree + (f" ({case.label})" if case.label else "")
        full = args.work / "trees" / case.round / case.name
        trimmed = DATA / case.round / case.name / "tree"
        if (full / case.tree).exists():
            root, copy = full, "full"
        elif trimmed.exists():
            root, copy = trimmed, "trimmed"
        else:
            print(f"{case.round:5} {shown:32} absent (run prepare where the mirror is)")
            continue
        folder = official_dir(case.round, case.name, copy == "trimmed")
        if not (folder / VERDICT_FILE).exists():
            print(f"{case.round:5} {shown:32} no official output (run prepare)")
            continue
        official = read_official(folder)
        start = time.perf_counter()
        report = check_tree(root, case.round)
        took = time.perf_counter() - start
        diffs = compare(report, official) + import_differences(root, official)
        matched = [d for d in diffs if explained(case.round, case.tree, d, known)]
        used.update(id(explained(case.round, case.tree, d, known)) for d in matched)
        unexplained += len(diffs) - len(matched)
        passed = len(read_csv_rows(report.csv_text()))
        print(
            f"{case.round:5} {shown:32} {copy:7} {_ok(official.ok):9} {_ok(report.ok):9} "
            f"{len(official.rows):>4}/{passed:<4} {len(diffs):5} {len(matched):5} {took:5.2f}"
        )
        if args.verbose:
            for diff in diffs:
                mark = " " if diff in matched else "!"
                print(f"   {mark} {diff.line()}")
    for entry in known:
        if id(entry) not in used:
            print(f"known difference not seen on these trees: {entry['reason'][:100]}")
    print(f"unexplained differences: {unexplained}")
    return 1 if unexplained else 0


def import_differences(root: Path, official: OfficialOutput) -> list[Difference]:
    """What `results import` stores for the tree, against the official CSV."""
    import tempfile

    from perfpilot.errors import PerfpilotError
    from perfpilot.results.db import ResultsDB
    from perfpilot.results.published import import_tree

    with tempfile.TemporaryDirectory() as tmp, ResultsDB.open(Path(tmp) / "r.db") as db:
        try:
            ids = import_tree(db, root)
        except PerfpilotError as err:
            if not official.rows:
                return []  # nothing to import, and the official checker keeps no row either
            return [Difference("import-refused", "*", "", err.one_line(), "")]
        return compare_import(db.rows(ids=ids), official)


def _ok(ok: bool) -> str:
    return "OK" if ok else "errors"


def _selected(args: argparse.Namespace) -> list[Case]:
    return [
        c
        for c in SUITE
        if not args.only or any(o in f"{c.round}/{c.tree} {c.name}" for o in args.only)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("step", nargs="?", choices=("prepare", "compare"), default="compare")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "perfpilot-conformance",
    )
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--python", default=sys.executable, help="Python of the official checker.")
    parser.add_argument(
        "--only", nargs="*", default=[], help="Trees whose round/tree contains one of these."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="List every difference.")
    args = parser.parse_args()
    return prepare(args) if args.step == "prepare" else compare_all(args)


if __name__ == "__main__":
    sys.exit(main())
