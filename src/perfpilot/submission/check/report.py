"""The report of one check: findings, one row per result, and the summary CSV's text."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

from perfpilot.submission.check.csv_formats import columns_for
from perfpilot.submission.check.findings import ERROR, WARNING, Finding, ResultRow


@dataclass
class CheckReport:
    """Findings and results of one check."""

    root: str
    round: str
    round_source: str  # "option", "seeds" (detected from the logs), "folder" or "default"
    findings: list[Finding]
    results: list[ResultRow]
    relaxed: bool = False

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary_line(self) -> str:
        return "SUMMARY: submission looks OK" if self.ok else "SUMMARY: submission has errors"

    def csv_columns(self) -> list[str]:
        """The official columns of this round (weight_data_types from v5.1 on; the modular
        checker's set for the v6.x layout)."""
        return columns_for(self.round)

    def csv_text(self) -> str:
        """The summary CSV: official header, one row per passing result."""
        columns = self.csv_columns()
        buf = io.StringIO()
        buf.write(",".join(columns) + "\n")
        for row in self.results:
            if not row.passed:
                continue
            if row.show_result:
                buf.write(",".join(row.csv[c] for c in columns) + "\n")
            if row.power_csv:  # a power result: its second row, the power figure
                buf.write(",".join(row.power_csv[c] for c in columns) + "\n")
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "root": self.root,
            "round": self.round,
            "round_source": self.round_source,
            "ok": self.ok,
            "relaxed": self.relaxed,
            "results": [
                {k: v for k, v in asdict(r).items() if k not in ("csv", "power_csv")}
                for r in self.results
            ],
            "findings": [asdict(f) for f in self.findings],
        }
