"""What the rules produce: a :class:`Finding` per problem and a :class:`ResultRow` per result.

Kept apart from the report so that the CSV formats can read a row without importing the
report, which itself uses the formats' columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: rule id, severity, where, what is wrong and how to fix it."""

    rule: str
    severity: str
    path: str  # relative to the tree root
    message: str
    fix: str

    def line(self) -> str:
        return f"{self.severity.upper()} [{self.rule}] {self.path}: {self.message}. Fix: {self.fix}"


@dataclass
class ResultRow:
    """One result of the tree, as the summary shows it."""

    location: str
    division: str
    submitter: str
    system: str
    model: str
    mlperf_model: str
    scenario: str
    result: float | None
    units: str
    accuracy: str
    inferred: bool
    compliance: bool
    passed: bool
    errors: int
    csv: dict[str, str] = field(default_factory=dict)
    # a power result: the official power figure (W or mJ per query), its units, the mean
    # watts, and the CSV's power row; show_result is False when the system JSON asks for
    # the power row only (system_power_only)
    power: float | None = None
    power_units: str = ""
    power_watts: float | None = None
    power_csv: dict[str, str] = field(default_factory=dict)
    show_result: bool = True
