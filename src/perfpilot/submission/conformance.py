"""perfpilot's checker beside the official one: every way their verdicts and CSVs differ.

The official checker's output on a tree is kept as two files (see ``bench/conformance.py``,
which makes them): ``verdict.json`` (exit status, summary line, error and warning
messages, the checker's tag) and ``summary.csv`` (its summary CSV). :func:`compare` checks
the same tree with perfpilot and lists each difference: the verdict, a result only one
side passes, or one cell of a row both pass. The conformance tests hold that list against
a table of known differences, each with its reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from perfpilot.submission.check import CheckReport, read_csv_rows

VERDICT_FILE = "verdict.json"
SUMMARY_FILE = "summary.csv"
# The units of the official CSV's power rows (a power result has a second row, same
# Location, with the power figure: W for Offline and Server, mJ per query otherwise).
POWER_UNITS = frozenset({"Watts", "millijoules", "Joules"})
_STAMP = re.compile(r"^\[[^\]]*\b(ERROR|WARNING|INFO)\] ?")


@dataclass(frozen=True)
class Difference:
    """One way perfpilot's check differs from the official one on a tree.

    ``kind`` is ``verdict`` (one says OK, the other errors), ``header`` (the CSV's
    columns), ``only-official`` / ``only-perfpilot`` (a result only one side passes) or
    ``cell`` (one column of a result both pass). ``result`` is the result's key
    (system/model/scenario, lower case) or ``*``.
    """

    kind: str
    result: str
    column: str
    perfpilot: str
    official: str

    def line(self) -> str:
        where = self.result + (f" [{self.column}]" if self.column else "")
        return f"{self.kind:14} {where}: perfpilot {self.perfpilot!r}, official {self.official!r}"


@dataclass(frozen=True)
class OfficialOutput:
    """What the official checker said about a tree."""

    verdict: dict[str, Any]
    rows: list[dict[str, str]]
    header: list[str]

    @property
    def ok(self) -> bool:
        return bool(self.verdict["ok"])


def parse_log(log: str, exit_status: int, checker: str) -> dict[str, Any]:
    """The verdict of one official run from its log (stderr): summary line, error and
    warning messages (timestamps dropped, so that two runs compare equal)."""
    errors: list[str] = []
    warnings: list[str] = []
    summary = ""
    for line in log.splitlines():
        match = _STAMP.match(line)
        if not match:
            continue
        text = line[match.end() :].strip()
        if text.startswith("SUMMARY:"):
            summary = text
        elif match.group(1) == "ERROR":
            errors.append(text)
        elif match.group(1) == "WARNING":
            warnings.append(text)
    return {
        "checker": checker,
        "exit": exit_status,
        "ok": exit_status == 0 and summary.endswith("looks OK"),
        "summary": summary,
        "errors": errors,
        "warnings": warnings,
    }


def read_official(folder: Path) -> OfficialOutput:
    """The official output stored in ``folder`` (``verdict.json`` and ``summary.csv``)."""
    verdict = json.loads((folder / VERDICT_FILE).read_text(encoding="utf-8"))
    text = (folder / SUMMARY_FILE).read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",") if text else []
    return OfficialOutput(verdict, read_csv_rows(text), header)


def result_key(location: str) -> str:
    """system/model/scenario of a Location cell, lower case (the official checker writes
    the folder as found; the v6.x checker adds performance/run_1)."""
    parts = [p for p in location.strip('"').replace("\\", "/").split("/") if p]
    if parts[-2:] == ["performance", "run_1"]:
        parts = parts[:-2]
    return "/".join(parts[-3:]).lower()


def row_key(row: dict[str, str]) -> str:
    """The result a CSV row is about; a power row's key ends in ``#power``."""
    return result_key(row["Location"]) + ("#power" if row.get("Units") in POWER_UNITS else "")


def compare(report: CheckReport, official: OfficialOutput) -> list[Difference]:
    """Every difference between perfpilot's report and the official output of a tree."""
    diffs: list[Difference] = []
    if report.ok != official.ok:
        diffs.append(
            Difference("verdict", "*", "", _ok(report.ok), _ok(official.ok)),
        )
    ours_header = report.csv_columns()
    if ours_header != official.header:
        diffs.append(
            Difference("header", "*", "", ",".join(ours_header), ",".join(official.header))
        )
    ours = {row_key(r): r for r in read_csv_rows(report.csv_text())}
    theirs = {row_key(r): r for r in official.rows}
    for key in sorted(set(ours) | set(theirs)):
        if key not in ours:
            diffs.append(Difference("only-official", key, "", "", "passed"))
            continue
        if key not in theirs:
            diffs.append(Difference("only-perfpilot", key, "", "passed", ""))
            continue
        for column, value in theirs[key].items():
            mine = ours[key].get(column)
            if column == "Location" and mine is not None:
                # the modular checker writes the --input path before it
                mine, value = _from_division(mine), _from_division(value)
            if mine is None or mine.strip('"') != value.strip('"'):
                diffs.append(Difference("cell", key, column, str(mine), value))
    return diffs


def _from_division(location: str) -> str:
    """A Location from its division folder on (``closed/X/results/...``), whatever path
    the checker was given for the tree."""
    parts = location.strip('"').replace("\\", "/").split("/")
    for i in range(len(parts) - 2):
        if parts[i] in ("closed", "open", "network") and parts[i + 2] == "results":
            return "/".join(parts[i:])
    return location.strip('"')


def _ok(ok: bool) -> str:
    return "OK" if ok else "errors"


def compare_import(rows: list[dict[str, Any]], official: OfficialOutput) -> list[Difference]:
    """Every difference between the rows ``results import`` stored for a tree and the
    official CSV: a result only one side has, and per result the figure (``value``,
    equal to the official Result as written), its units and the round."""
    diffs: list[Difference] = []
    ours = {f"{r['system']}/{r['model']}/{r['scenario']}".lower(): r for r in rows}
    theirs = {row_key(r): r for r in official.rows}
    for key in sorted(theirs):
        off = theirs[key]
        row = ours.get(key.removesuffix("#power"))
        if row is None:
            diffs.append(Difference("import-missing", key, "", "", "passed"))
            continue
        provenance = row.get("provenance") or {}
        if key.endswith("#power"):
            # wherever the importer keeps the power figure, it must be the official one
            if not any(_same(v, off) for v in _numbers(provenance)):
                diffs.append(Difference("import", key, "power", "", off["Result"]))
            continue
        value = row.get("value")
        if not _same(value, off):
            diffs.append(Difference("import", key, "value", repr(value), off["Result"]))
        units = provenance.get("summary_units") if isinstance(provenance, dict) else None
        if units != off["Units"]:
            diffs.append(Difference("import", key, "units", str(units), off["Units"]))
        if row.get("round") != off["version"]:
            diffs.append(Difference("import", key, "round", str(row.get("round")), off["version"]))
    return diffs


def _same(value: Any, official_row: dict[str, str]) -> bool:
    """A stored figure equals the official Result when it rounds to it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return float(official_row["Result"]) == float(f"{float(value):.{_digits(official_row)}f}")


def _numbers(data: Any) -> list[float]:
    if isinstance(data, dict):
        return [n for v in data.values() for n in _numbers(v)]
    if isinstance(data, list):
        return [n for v in data for n in _numbers(v)]
    return [float(data)] if isinstance(data, (int, float)) and not isinstance(data, bool) else []


def _digits(official_row: dict[str, str]) -> int:
    """Decimals of the official Result (it rounds to at most 6): a stored figure equals it
    when it rounds to the same."""
    text = official_row["Result"]
    return len(text.split(".", 1)[1]) if "." in text else 0


def explained(
    round_name: str, tree: str, diff: Difference, known: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The entry of the known-differences table that covers ``diff``, or None. Its fields
    ``round``, ``tree``, ``kind``, ``result`` and ``column`` are shell patterns, or lists
    of them (any may match); a missing ``column`` matches none."""
    for entry in known:
        if (
            _matches(round_name, entry["round"])
            and _matches(tree, entry["tree"])
            and _matches(diff.kind, entry["kind"])
            and _matches(diff.result, entry["result"])
            and _matches(diff.column, entry.get("column", ""))
        ):
            return entry
    return None


def _matches(value: str, patterns: str | list[str]) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(fnmatchcase(value, p) for p in patterns)
