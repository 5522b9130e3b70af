"""perfpilot's submission checker: the official per-round rules, explained in plain words.

``check_tree(root, round_name)`` reads the tree (``submission.tree``), applies the
structure rules and the per-round rules of ``submission.rounds`` to every result, and
returns a :class:`CheckReport`: findings (rule id, severity, path, what is wrong, how to
fix it) and one :class:`ResultRow` per result, which becomes a line of the summary CSV
with the official columns. The tree is never modified and symlinks are never followed.

The rules live in one module per group (``layout``, ``files``, ``system``,
``scenarios``, ``measurements``, ``accuracy``, ``performance``, ``compliance``), each
a tuple of functions; ``results`` applies them to each result. A new rule is one function
added to its group's tuple, its fix text in ``fixes.FIXES`` and a broken-tree test.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from perfpilot.submission import rounds
from perfpilot.submission.check.context import Context
from perfpilot.submission.check.csv_formats import CSV_COLUMNS, CSV_COLUMNS_V6, read_csv_rows
from perfpilot.submission.check.findings import ERROR, WARNING, Finding, ResultRow
from perfpilot.submission.check.fixes import FIXES
from perfpilot.submission.check.layout import check_layout
from perfpilot.submission.check.report import CheckReport
from perfpilot.submission.check.results import check_results
from perfpilot.submission.rounds import RoundRules
from perfpilot.submission.tree import SubmissionTree, read_tree

__all__ = [
    "CSV_COLUMNS",
    "CSV_COLUMNS_V6",
    "ERROR",
    "FIXES",
    "WARNING",
    "CheckReport",
    "Finding",
    "ResultRow",
    "check_read_tree",
    "check_tree",
    "read_csv_rows",
    "resolve_round",
    "write_csv",
]


_ROUND_IN_NAME = re.compile(r"(?:^|[_\-])v(\d+\.\d+)(?:$|[_\-])", re.IGNORECASE)


def resolve_round(tree: SubmissionTree, round_name: str | None) -> tuple[RoundRules, str]:
    """The round to check against: the option, else the one whose seeds most of the
    performance logs carry, else a round named by the tree's folder (as the results
    repositories are: ``inference_results_v5.1``), else the default round. LoadGen's
    version says nothing: a round's runs may use the previous round's LoadGen."""
    if round_name:
        return rounds.get_round(round_name), "option"
    votes = Counter(
        found
        for entry in tree.entries
        if entry.performance is not None
        and (found := rounds.round_for_seeds(entry.performance.seeds)) is not None
    )
    if votes:
        return rounds.get_round(votes.most_common(1)[0][0]), "seeds"
    for part in reversed(tree.root.absolute().parts):
        match = _ROUND_IN_NAME.search(part)
        if match and f"v{match.group(1)}" in rounds.ROUNDS:
            return rounds.get_round(f"v{match.group(1)}"), "folder"
    return rounds.get_round(rounds.default_round()), "default"


def check_tree(
    root: Path | str, round_name: str | None = None, *, relax_lengths: bool = False
) -> CheckReport:
    """Check the submission tree at ``root`` against the rules of ``round_name``.

    Without ``round_name`` the round is the one whose seeds the performance logs carry
    (else the default round). ``relax_lengths`` turns the test-length rules (duration,
    query and sample counts, early stopping, dataset size) into warnings for the open
    division only, so a tree made of short test runs can be checked end to end.
    """
    return check_read_tree(read_tree(root), round_name, relax_lengths=relax_lengths)


def check_read_tree(
    tree: SubmissionTree, round_name: str | None = None, *, relax_lengths: bool = False
) -> CheckReport:
    """``check_tree`` on a tree already read (the importer reads it once for both)."""
    rules, source = resolve_round(tree, round_name)
    ctx = Context(tree, rules, relax_lengths)
    check_layout(ctx)
    rows = check_results(ctx)
    if not tree.entries:
        ctx.add("missing-file", tree.root, "no results found (results/<system>/<model>/...)")
    return CheckReport(
        root=str(tree.root),
        round=rules.name,
        round_source=source,
        findings=ctx.findings,
        results=rows,
        relaxed=relax_lengths,
    )


def write_csv(report: CheckReport, path: Path) -> None:
    """Write the summary CSV atomically."""
    from perfpilot.artifacts.files import atomic_write_text

    atomic_write_text(path, report.csv_text())
