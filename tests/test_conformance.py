"""perfpilot's checker and importer against the official checker on published trees.

Each folder tests/data/conformance/<round>/<division>_<submitter>/ holds a trimmed copy of
a published submitter tree (tree/: logs, system and measurement files, power logs; no
code, no images) and what the official checker of that round said of it (official/:
verdict.json and summary.csv). `bench/conformance.py prepare` made them from the local
mirrors of mlcommons/inference_results_*; `bench/conformance.py` compares the full trees.

Every difference must be listed in known_differences.json with its reason, and every
entry there that names only committed trees must still be needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from perfpilot.errors import PerfpilotError
from perfpilot.results.db import ResultsDB
from perfpilot.results.published import import_tree
from perfpilot.submission.check import check_tree
from perfpilot.submission.conformance import (
    POWER_UNITS,
    Difference,
    compare,
    compare_import,
    explained,
    read_official,
)

DATA = Path(__file__).parent / "data" / "conformance"
KNOWN: list[dict[str, Any]] = json.loads((DATA / "known_differences.json").read_text())[
    "differences"
]


def _cases() -> list[tuple[str, str, Path]]:
    """(round, division/submitter, folder) of every committed trimmed tree."""
    cases = []
    for tree in sorted(DATA.glob("v*/*/tree")):
        (division,) = [p for p in tree.iterdir() if p.is_dir()]
        (submitter,) = [p for p in division.iterdir() if p.is_dir()]
        cases.append((tree.parent.parent.name, f"{division.name}/{submitter.name}", tree.parent))
    return cases


CASES = _cases()
IDS = [f"{r}-{t}" for r, t, _ in CASES]


def _official(folder: Path):  # type: ignore[no-untyped-def]
    alt = folder / "tree-official"
    return read_official(alt if alt.exists() else folder / "official")


def _check_diffs(round_name: str, folder: Path) -> list[Difference]:
    return compare(check_tree(folder / "tree", round_name), _official(folder))


def _import_diffs(folder: Path, tmp_path: Path) -> list[Difference]:
    official = _official(folder)
    with ResultsDB.open(tmp_path / "results.db") as db:
        try:
            ids = import_tree(db, folder / "tree")
        except PerfpilotError as err:
            # a tree with nothing to import agrees with an official CSV without rows
            if official.rows:
                raise
            assert "nothing to import" in err.one_line()
            return []
        return compare_import(db.rows(ids=ids), official)


def _unexplained(round_name: str, tree: str, diffs: list[Difference]) -> list[str]:
    return [d.line() for d in diffs if explained(round_name, tree, d, KNOWN) is None]


def test_the_suite_covers_each_round_and_kind() -> None:
    """At least two trimmed trees per round, a closed and an open one, a token benchmark,
    an inferred MultiStream and power results among them."""
    rounds = [r for r, _, _ in CASES]
    assert all(rounds.count(r) >= 2 for r in set(rounds))
    assert {"v4.1", "v5.0", "v5.1", "v6.0"} <= set(rounds)
    for round_name in ("v5.0", "v6.0"):  # closed and open trees of the newer rounds
        divisions = {t.split("/")[0] for r, t, _ in CASES if r == round_name}
        assert divisions == {"closed", "open"}, round_name
    assert {t.split("/")[0] for _, t, _ in CASES} == {"closed", "open"}
    rows = [row for _, _, folder in CASES for row in _official(folder).rows]
    assert any(row["inferred"] == "1" and row["Scenario"] == "MultiStream" for row in rows)
    assert any(row["Units"] == "Tokens/s" for row in rows)
    assert any(row["Units"] in POWER_UNITS for row in rows)


@pytest.mark.parametrize(("round_name", "tree", "folder"), CASES, ids=IDS)
def test_check_agrees_with_the_official_checker(round_name: str, tree: str, folder: Path) -> None:
    diffs = _check_diffs(round_name, folder)
    assert not _unexplained(round_name, tree, diffs), "\n".join(
        _unexplained(round_name, tree, diffs)
    )


@pytest.mark.parametrize(("round_name", "tree", "folder"), CASES, ids=IDS)
def test_import_stores_the_official_figures(
    round_name: str, tree: str, folder: Path, tmp_path: Path
) -> None:
    diffs = _import_diffs(folder, tmp_path)
    assert not _unexplained(round_name, tree, diffs), "\n".join(
        _unexplained(round_name, tree, diffs)
    )


def test_known_differences_are_still_needed(tmp_path: Path) -> None:
    """An entry naming committed trees only must explain a difference on one of them
    (fixed: delete the entry)."""
    committed = {(r, t) for r, t, _ in CASES}
    diffs = {
        (r, t): _check_diffs(r, folder) + _import_diffs(folder, tmp_path / r / folder.name)
        for r, t, folder in CASES
    }
    stale = []
    for entry in KNOWN:
        trees = [entry["tree"]] if isinstance(entry["tree"], str) else entry["tree"]
        rounds = [entry["round"]] if isinstance(entry["round"], str) else entry["round"]
        named = {(r, t) for r in rounds for t in trees}
        if not named <= committed:
            continue  # also about trees outside the repository: bench/conformance.py
        if not any(explained(r, t, d, [entry]) for (r, t) in named for d in diffs[(r, t)]):
            stale.append(entry["reason"])
    assert not stale, "known differences that no longer occur (delete them): " + "; ".join(stale)


def test_cli_check_writes_the_library_report(tmp_path: Path) -> None:
    """`perfpilot submission check --csv` on a conformance tree: the same verdict (exit
    status) and the same CSV as the library call the comparisons use."""
    round_name, _, folder = next(c for c in CASES if c[1] == "open/Lenovo")
    out = tmp_path / "summary.csv"
    command = ["submission", "check", str(folder / "tree"), "--round", round_name]
    proc = subprocess.run(
        [sys.executable, "-m", "perfpilot", *command, "--csv", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    report = check_tree(folder / "tree", round_name)
    assert proc.returncode == (0 if report.ok else 1), proc.stdout + proc.stderr
    assert out.read_text() == report.csv_text()
    assert report.ok == _official(folder).ok
