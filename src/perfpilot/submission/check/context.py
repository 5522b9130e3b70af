"""What every rule works with: the tree, the round's rules, and the findings so far.

A rule is a function taking a :class:`Context` (and what it checks) that calls
:meth:`Context.add` for each problem it finds; the fix comes from ``fixes.FIXES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfpilot.submission import rounds
from perfpilot.submission.check.findings import ERROR, WARNING, Finding
from perfpilot.submission.check.fixes import FIXES
from perfpilot.submission.rounds import RoundRules
from perfpilot.submission.tree import SubmissionTree

# Rules that a test-length tree (``relax_lengths``) may break in the open division.
LENGTH_RULES = {
    "perf-min-duration",
    "perf-min-queries",
    "perf-offline-samples",
    "perf-sample-count",
    "perf-early-stopping",
    "accuracy-dataset-size",
}


@dataclass
class Context:
    """One check in progress: the tree read from disk, the round and the findings."""

    tree: SubmissionTree
    rules: RoundRules
    relax: bool  # relax_lengths: LENGTH_RULES are warnings in the open division
    common: dict[str, Any] = field(default_factory=rounds.common)
    findings: list[Finding] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.tree.root

    def rel(self, path: Path) -> str:
        """``path`` relative to the tree root, as findings show it."""
        try:
            return path.relative_to(self.root).as_posix() or "."
        except ValueError:
            return str(path)

    def add(self, rule: str, path: Path, message: str, severity: str = ERROR) -> None:
        """Report a problem of ``rule`` at ``path``, with the rule's fix."""
        self.findings.append(Finding(rule, severity, self.rel(path), message, FIXES[rule]))

    def sev(self, division: str, rule: str | None = None) -> str:
        """The severity in ``division``: the open division only warns of a rule-less
        problem (an accuracy miss), and of LENGTH_RULES when lengths are relaxed."""
        if division == "open" and (rule is None or (self.relax and rule in LENGTH_RULES)):
            return WARNING
        return ERROR

    def errors_of(self, folder: Path) -> list[Finding]:
        """The errors found so far at ``folder`` or under it."""
        prefix = self.rel(folder)
        return [
            f
            for f in self.findings
            if f.severity == ERROR and (f.path == prefix or f.path.startswith(prefix + "/"))
        ]
