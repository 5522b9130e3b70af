"""perfpilot's submission checker: the official per-round rules, explained in plain words.

``check_tree(root, round_name)`` reads the tree (``submission.tree``), applies the
structure rules and the per-round rules of ``submission.rounds`` to every result, and
returns a :class:`CheckReport`: findings (rule id, severity, path, what is wrong, how to
fix it) and one :class:`ResultRow` per result, which becomes a line of the summary CSV
with the official columns. The tree is never modified and symlinks are never followed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from perfpilot.errors import UsageError
from perfpilot.records import LoadgenResult
from perfpilot.submission import rounds
from perfpilot.submission.rounds import ModelRules, RoundRules
from perfpilot.submission.tree import (
    DIVISIONS,
    ScenarioEntry,
    SubmissionTree,
    SubmitterDir,
    files,
    is_dir,
    is_file,
    read_tree,
)

ERROR, WARNING = "error", "warning"
ROOT_DIRS_IGNORED = {".git", ".github", "assets"}
REQUIRED_ACC_FILES = (
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "accuracy.txt",
    "mlperf_log_accuracy.json",
)
REQUIRED_PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
OPTIONAL_PERF_FILES = ("mlperf_log_accuracy.json", "mlperf_log_trace.json")
UNITS = {
    "SingleStream": "Latency (ms)",
    "MultiStream": "Latency (ms)",
    "Offline": "Samples/s",
    "Server": "Queries/s",
}
CSV_COLUMNS = [
    "Organization",
    "Availability",
    "Division",
    "SystemType",
    "SystemName",
    "Platform",
    "Model",
    "MlperfModel",
    "Scenario",
    "Result",
    "Accuracy",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "accelerator_model_name",
    "accelerators_per_node",
    "Location",
    "framework",
    "operating_system",
    "notes",
    "compliance",
    "errors",
    "version",
    "inferred",
    "has_power",
    "Units",
]
# The official modular checker's summary columns (v6.x rounds): every value quoted.
CSV_COLUMNS_V6 = [
    *CSV_COLUMNS[: CSV_COLUMNS.index("accelerators_per_node") + 1],
    "total_accelerators",
    *CSV_COLUMNS[CSV_COLUMNS.index("accelerators_per_node") + 1 :],
    "weight_data_types",
    "design_power_watts",
    "PrivateID",
]

# Rules that a test-length tree (``relax_lengths``) may break in the open division.
LENGTH_RULES = {
    "perf-min-duration",
    "perf-min-queries",
    "perf-offline-samples",
    "perf-sample-count",
    "perf-early-stopping",
    "accuracy-dataset-size",
}

# rule id -> the fix, in words a first-time submitter can act on.
FIXES: dict[str, str] = {
    "root-stray-file": "Move it out: only .md and .pdf files may sit at the root of the tree.",
    "unknown-division": "Rename or remove it: the root holds only closed/, open/ or network/.",
    "division-stray-file": "Move it into the submitter folder or delete it.",
    "symlink-outside": "Replace the link with a copy of the file (links outside the tree are "
    "never followed and do not survive packaging).",
    "symlink-broken": "Remove the broken link or put the real file in its place.",
    "file-too-large": "Files over 50 MB are not accepted: truncate logs "
    "('perfpilot submission truncate') or drop traces.",
    "hidden-file": "Delete it: dot-files and dot-folders are not allowed.",
    "space-in-name": "Rename it without spaces.",
    "pycache": "Delete the __pycache__ folder.",
    "empty-folder": "Delete the empty folder or put the missing files in it.",
    "layout-mismatch": "Check --round, or lay the tree out for that round "
    "('perfpilot submission generate --round R' uses the right layout).",
    "system-without-results": "Add results for this system or remove its JSON from systems/.",
    "calibration-missing": "Add calibration.md (or documentation/calibration.md) describing "
    "how the model was calibrated/quantized ('none' if it was not).",
    "code-missing": "Add the code folder for the model (code/<model>/ up to v5.1, src/ from "
    "v6.0) with a README on how to reproduce the runs.",
    "system-json-missing": "Add systems/<system>.json ('perfpilot system describe' writes one).",
    "system-json-invalid": "Fix the JSON syntax of the system description.",
    "system-field-missing": "Add the field to the system JSON ('perfpilot system describe' "
    "lists them all).",
    "system-field-empty": "Fill the field with a meaningful value.",
    "system-status": "Set status to available, preview or rdi.",
    "system-type": "Set system_type to datacenter, edge or datacenter,edge.",
    "system-mismatch": "Make division/submitter in the system JSON match the folder names.",
    "model-not-in-round": "Use a model of this round (or the open division with "
    "model_mapping.json), or check with --round.",
    "category-not-allowed": "Submit this model on a system category the round allows "
    "(system_type in the system JSON).",
    "scenario-missing": "Run and add the missing scenario ('perfpilot submission plan' lists "
    "every required run).",
    "scenario-not-allowed": "Remove this scenario: the round does not accept it for this "
    "model and system category.",
    "measurements-missing": "Add the measurements JSON, user.conf and README.md of the result.",
    "measurements-file-missing": "Add the file to the measurements folder (user.conf used for "
    "the run, README.md with the command that reproduces it).",
    "measurements-field": "Fill the field in the measurements JSON.",
    "missing-file": "Add the file: copy it from the run directory of that LoadGen test.",
    "stray-file": "Remove the file: this folder holds only the files LoadGen and the "
    "accuracy script wrote.",
    "perf-unreadable": "Copy the LoadGen logs of the performance run here again.",
    "perf-invalid": "Re-run the performance test with settings that give VALID (lower "
    "target_qps or raise target latency; 'perfpilot run --execution valid').",
    "perf-loadgen-errors": "Fix what LoadGen reported and re-run the test.",
    "perf-seeds": "Re-run with the LoadGen release of this round (its built-in mlperf.conf "
    "carries the round's seeds; never set seeds in user.conf).",
    "perf-sample-count": "Do not lower performance_sample_count_override below the "
    "round's value; re-run.",
    "perf-min-duration": "Re-run with the official min_duration (600 s, "
    "'--execution valid'); do not shorten it in user.conf.",
    "perf-min-queries": "Re-run with the official min_query_count.",
    "perf-offline-samples": "Raise Offline target_qps so LoadGen issues at least the "
    "round's minimum samples per query, and re-run.",
    "perf-latency-bound": "Set the Server target latency to at most the model's bound and "
    "lower target_qps until the run is VALID.",
    "perf-early-stopping": "Run longer or at a lower load so the early-stopping estimate is met.",
    "perf-equal-issue": "Enable sample_concatenate_permutation (equal-issue mode) as the "
    "round's mlperf.conf does for this model.",
    "perf-scenario-mismatch": "Put the logs in the folder of the scenario they were run in.",
    "accuracy-unreadable": "Regenerate accuracy.txt with the official accuracy script for "
    "this model.",
    "accuracy-below-target": "Fix the model or preprocessing until accuracy reaches the "
    "target, then re-run accuracy and performance.",
    "accuracy-hash-missing": "Run 'perfpilot submission truncate DIR': it adds the hash line "
    "and truncates the log.",
    "accuracy-hash-bad": "Restore the original mlperf_log_accuracy.json from the backup and "
    "run 'perfpilot submission truncate DIR' again.",
    "accuracy-log-not-truncated": "Run 'perfpilot submission truncate DIR'.",
    "accuracy-loadgen-errors": "Fix what LoadGen reported and re-run the accuracy test.",
    "accuracy-dataset-size": "Run accuracy on the whole validation set, not a subset.",
    "compliance-missing": "Run the compliance test ('perfpilot compliance run TEST0x ...').",
    "compliance-failed": "Investigate the failed compliance test, fix the harness and re-run "
    "it (and the submission run if needed).",
    "compliance-files": "Copy the compliance test's logs and verify_*.txt in place again.",
    "standin-closed": "Stand-in models measure speed only: submit these results in the open "
    "division, or re-run with the real model.",
}

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


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


@dataclass
class CheckReport:
    """Findings and results of one check."""

    root: str
    round: str
    round_source: str  # "option", "seeds" (detected from the logs) or "default"
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
        if rounds.get_round(self.round).layout == "v6":
            return CSV_COLUMNS_V6
        extra = [] if self.round in ("v4.1", "v5.0") else ["weight_data_types"]
        return CSV_COLUMNS + extra

    def csv_text(self) -> str:
        """The summary CSV: official header, one row per passing result."""
        columns = self.csv_columns()
        buf = io.StringIO()
        buf.write(",".join(columns) + "\n")
        for row in self.results:
            if row.passed:
                buf.write(",".join(row.csv[c] for c in columns) + "\n")
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "root": self.root,
            "round": self.round,
            "round_source": self.round_source,
            "ok": self.ok,
            "relaxed": self.relaxed,
            "results": [{k: v for k, v in asdict(r).items() if k != "csv"} for r in self.results],
            "findings": [asdict(f) for f in self.findings],
        }


class _Checker:
    def __init__(self, tree: SubmissionTree, rules: RoundRules, relax_lengths: bool) -> None:
        self.tree = tree
        self.rules = rules
        self.relax = relax_lengths
        self.common = rounds.common()
        self.findings: list[Finding] = []
        self.row_entries: list[ScenarioEntry] = []
        self.root = tree.root

    # -- helpers ---------------------------------------------------------------------
    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix() or "."
        except ValueError:
            return str(path)

    def add(self, rule: str, path: Path, message: str, severity: str = ERROR) -> None:
        self.findings.append(Finding(rule, severity, self.rel(path), message, FIXES[rule]))

    def _sev(self, division: str, rule: str | None = None) -> str:
        if division == "open" and (rule is None or (self.relax and rule in LENGTH_RULES)):
            return WARNING
        return ERROR

    # -- structure -------------------------------------------------------------------
    def structure(self) -> None:
        root = self.root
        for item in sorted(root.iterdir(), key=lambda p: p.name):
            if item.is_symlink() or item.is_file():
                if item.is_symlink() or item.suffix.lower() not in (".md", ".pdf"):
                    self.add("root-stray-file", item, "file at the root of the tree")
            elif item.name not in DIVISIONS and item.name not in ROOT_DIRS_IGNORED:
                self.add("unknown-division", item, f"'{item.name}' is not a division folder")
        for division in DIVISIONS:
            ddir = root / division
            if not is_dir(ddir):
                continue
            for item in files(ddir):
                self.add("division-stray-file", item, "file directly in the division folder")
        for sub in self.tree.submitters:
            self._walk(sub.path)
            self._submitter(sub)

    def _walk(self, top: Path) -> None:
        real_root = self.root.resolve()
        limit = int(self.common["max_file_bytes"])
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            here = Path(dirpath)
            if not dirnames and not filenames:
                self.add("empty-folder", here, "empty folder")
            for name in dirnames + filenames:
                path = here / name
                if name.startswith("."):
                    self.add("hidden-file", path, "hidden (dot) name")
                if " " in name:
                    self.add("space-in-name", path, "space in the name")
                if name == "__pycache__":
                    self.add("pycache", path, "__pycache__ folder")
                if path.is_symlink():
                    target = Path(os.path.realpath(path))
                    if target != real_root and real_root not in target.parents:
                        self.add(
                            "symlink-outside",
                            path,
                            f"symbolic link pointing outside the tree (to {os.readlink(path)}); "
                            "not followed",
                        )
                    elif not target.exists():
                        self.add("symlink-broken", path, "broken symbolic link")
                elif name in filenames and path.stat().st_size > limit:
                    self.add("file-too-large", path, f"{path.stat().st_size} bytes (> 50 MB)")

    def _submitter(self, sub: SubmitterDir) -> None:
        if sub.layout != self.rules.layout:
            names = {"v4": "v4.1-v5.1 (code/, measurements/, compliance/)", "v6": "v6.x (src/)"}
            self.add(
                "layout-mismatch",
                sub.path,
                f"the tree has the {names[sub.layout]} layout, round {self.rules.name} wants "
                f"the {names[self.rules.layout]} one",
            )
        results = sub.path / "results"
        with_results = (
            {p.name for p in results.iterdir() if is_dir(p)} if is_dir(results) else set()
        )
        for name, path in sub.systems.items():
            if name not in with_results:
                self.add("system-without-results", path, f"system '{name}' has no results")
        # The official checker asks for the calibration document from v5.1 on.
        needs_calibration = self.rules.name not in ("v4.1", "v5.0")
        if (
            needs_calibration
            and sub.division in ("closed", "network")
            and not (
                is_file(sub.path / "calibration.md")
                or is_file(sub.path / "documentation" / "calibration.md")
            )
        ):
            self.add("calibration-missing", sub.path, "no calibration.md")
        for system in sorted(with_results):
            self._system(sub, system)
        models = {e.model for e in self.tree.entries if e.submitter == sub.name}
        for model in sorted(models):
            if sub.layout == "v6":
                code = sub.path / "src"
            else:
                code = sub.path / "code" / model
            if not (is_dir(code) or is_file(code)):
                self.add("code-missing", code, f"no code folder for {model}")

    def _system(self, sub: SubmitterDir, system: str) -> None:
        path = sub.path / "systems" / f"{system}.json"
        if not is_file(path):
            self.add("system-json-missing", path, f"no system description for '{system}'")
            return
        try:
            data = json.loads(path.read_text(errors="replace"))
        except json.JSONDecodeError as err:
            self.add("system-json-invalid", path, f"not valid JSON ({err.msg}, line {err.lineno})")
            return
        if not isinstance(data, dict):
            self.add("system-json-invalid", path, "not a JSON object")
            return
        non_empty = set(self.common["system_fields_non_empty"])
        for key in self.common["system_fields"]:
            if key not in data:
                self.add("system-field-missing", path, f"field '{key}' is missing")
            elif key in non_empty and not str(data[key]).strip():
                self.add("system-field-empty", path, f"field '{key}' is empty")
            elif key in non_empty and not data[key]:
                # The official checker tests truth: a number 0 or false reads as empty.
                self.add(
                    "system-field-empty",
                    path,
                    f"field '{key}' is {json.dumps(data[key])}, which the official checker "
                    f'reads as empty (write "{data[key]}" as a string)',
                )
        status = str(data.get("status", "")).lower()
        if "status" in data and status not in self.common["statuses"]:
            self.add("system-status", path, f"status '{data.get('status')}' is not valid")
        stype = str(data.get("system_type", ""))
        if "system_type" in data and stype not in self.common["system_types"]:
            self.add("system-type", path, f"system_type '{stype}' is not valid")
        if "division" in data and data["division"] != sub.division:
            self.add(
                "system-mismatch",
                path,
                f"division '{data['division']}' but the folder is '{sub.division}'",
            )
        if "submitter" in data and str(data["submitter"]).lower() != sub.name.lower():
            self.add(
                "system-mismatch",
                path,
                f"submitter '{data['submitter']}' but the folder is '{sub.name}'",
            )

    # -- results ---------------------------------------------------------------------
    def results(self) -> list[ResultRow]:
        rows: list[ResultRow] = []
        groups: dict[tuple[str, str, str, str], list[ScenarioEntry]] = {}
        for entry in self.tree.entries:
            key = (entry.division, entry.submitter, entry.system, entry.model)
            groups.setdefault(key, []).append(entry)
        for entries in groups.values():
            rows.extend(self._model(entries))
        return rows

    def _model(self, entries: list[ScenarioEntry]) -> list[ResultRow]:
        first = entries[0]
        model_dir = first.path.parent
        closed = first.division in ("closed", "network")
        mrules: ModelRules | None = self.rules.models.get(
            self.rules.aliases.get(first.model, first.mlperf_model)
        )
        if mrules is None:
            if closed:
                self.add(
                    "model-not-in-round",
                    model_dir,
                    f"'{first.model}' is not a model of MLPerf Inference {self.rules.name} "
                    "(or not one perfpilot checks)",
                )
        required: list[str] = []
        category = str((first.system_json or {}).get("system_type", ""))
        if mrules is not None and category in self.common["system_types"]:
            cat = rounds.normalize_category(category)
            if cat in mrules.required_scenarios:
                required = mrules.required_scenarios[cat]
            elif closed:
                self.add(
                    "category-not-allowed",
                    model_dir,
                    f"{first.mlperf_model} cannot be submitted on a '{cat}' system in "
                    f"{self.rules.name} (allowed: {', '.join(mrules.required_scenarios)})",
                )
        rows: list[ResultRow] = []
        before = len(self.errors_of(model_dir))
        for entry in sorted(entries, key=lambda e: e.scenario):
            if closed and required and entry.scenario not in required:
                self.add(
                    "scenario-not-allowed",
                    entry.path,
                    f"{entry.scenario} is neither required nor optional for {entry.mlperf_model}"
                    f" on a {category} system",
                )
            rows.append(self._scenario(entry, mrules, before))
        present = {e.scenario for e in entries if e.performance is not None}
        for scen in required:
            if scen not in present:
                self.add(
                    "scenario-missing",
                    model_dir,
                    f"required scenario {scen} is missing for {first.mlperf_model} on a "
                    f"{category} system",
                    ERROR if closed else WARNING,
                )
        return rows

    def finalize(self, rows: list[ResultRow]) -> None:
        """A result passes when nothing under its folders (or its system JSON) has errors."""
        for row, entry in zip(rows, self.row_entries, strict=True):
            places = (entry.path, entry.measurements_dir, entry.compliance_dir, entry.system_path)
            if any(self.errors_of(p) for p in places):
                row.passed = False

    def errors_of(self, folder: Path) -> list[Finding]:
        prefix = self.rel(folder)
        return [
            f
            for f in self.findings
            if f.severity == ERROR and (f.path == prefix or f.path.startswith(prefix + "/"))
        ]

    def _files(self, folder: Path, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
        if not is_dir(folder):
            self.add("missing-file", folder, "folder is missing")
            return
        names = {p.name for p in files(folder)}
        for name in required:
            if name not in names:
                self.add("missing-file", folder / name, f"{name} is missing")
        for name in sorted(names - set(required) - set(optional)):
            if not name.startswith("."):  # reported as hidden-file already
                self.add("stray-file", folder / name, "unexpected file")

    def _scenario(self, entry: ScenarioEntry, mrules: ModelRules | None, before: int) -> ResultRow:
        n_before = len(self.findings)
        closed = entry.division in ("closed", "network")
        self._measurements(entry)
        self._files(entry.accuracy_dir, REQUIRED_ACC_FILES, ())
        self._files(entry.performance_dir, REQUIRED_PERF_FILES, OPTIONAL_PERF_FILES)
        acc_text = self._accuracy(entry, mrules)
        result, inferred = self._performance(entry, mrules)
        compliance = True
        if closed and mrules is not None:
            compliance = self._compliance(entry, mrules)
        if entry.standin and closed:
            self.add(
                "standin-closed",
                entry.path,
                "these results come from a perfpilot stand-in model (random weights)",
            )
        new = self.findings[n_before:]
        errors = [f for f in new if f.severity == ERROR]
        self.row_entries.append(entry)
        row = ResultRow(
            location=entry.location,
            division=entry.division,
            submitter=entry.submitter,
            system=entry.system,
            model=entry.model,
            mlperf_model=entry.mlperf_model,
            scenario=entry.scenario,
            result=result,
            units=UNITS.get(entry.scenario, ""),
            accuracy=acc_text,
            inferred=inferred,
            compliance=compliance,
            passed=not errors and result is not None,
            errors=before,
        )
        row.csv = self._csv(entry, row)
        return row

    def _measurements(self, entry: ScenarioEntry) -> None:
        folder = entry.measurements_dir
        if not is_dir(folder):
            self.add("measurements-missing", folder, "measurements folder is missing")
            return
        needed = ["user.conf", "README.md"] + (["mlperf.conf"] if self.rules.name == "v4.1" else [])
        for name in needed:
            path = folder / name
            if not is_file(path):
                self.add("measurements-file-missing", path, f"{name} is missing")
            elif path.stat().st_size == 0:
                self.add("measurements-file-missing", path, f"{name} is empty")
        if entry.measurements_path is None:
            want = "measurements.json" if entry.layout == "v6" else f"{entry.system}*.json"
            self.add("measurements-missing", folder, f"no measurements JSON ({want})")
            return
        if entry.measurements is None:
            self.add("measurements-missing", entry.measurements_path, "not a valid JSON object")
            return
        for key in self.common["measurement_fields"]:
            value = entry.measurements.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                self.add(
                    "measurements-field",
                    entry.measurements_path,
                    f"field '{key}' is missing or empty",
                )

    def _accuracy(self, entry: ScenarioEntry, mrules: ModelRules | None) -> str:
        acc = entry.accuracy
        folder = entry.accuracy_dir
        if acc is None:
            return ""
        sev = self._sev(entry.division)
        metrics = [m for m, _ in mrules.accuracy] if mrules else list(acc.values)
        shown: list[str] = []
        for metric, target in mrules.accuracy if mrules else []:
            value = acc.value(metric)
            if value is None:
                self.add(
                    "accuracy-unreadable",
                    acc.path,
                    f"no {metric} line in the format of the official accuracy script",
                )
            elif value < target:
                self.add(
                    "accuracy-below-target",
                    acc.path,
                    f"{metric} {acc.values[metric]} is below the target {target:.4f}",
                    sev,
                )
        for metric in metrics:
            if metric in acc.values:
                shown.append(acc.values[metric])
        log = folder / "mlperf_log_accuracy.json"
        if acc.hash is None:
            self.add("accuracy-hash-missing", acc.path, "no 'hash=' line")
        elif not _HEX64.match(acc.hash):
            self.add("accuracy-hash-bad", acc.path, f"hash line '{acc.hash[:20]}' is not a sha256")
        elif is_file(log) and b"\n\n...\n\n" not in log.read_bytes():
            from perfpilot.artifacts.files import sha256_file

            if sha256_file(log) != acc.hash:
                self.add(
                    "accuracy-hash-bad",
                    acc.path,
                    "hash line does not match mlperf_log_accuracy.json",
                )
        limit = int(self.common["max_accuracy_log_bytes"])
        if is_file(log) and log.stat().st_size > limit:
            self.add(
                "accuracy-log-not-truncated",
                log,
                f"{log.stat().st_size} bytes (at most {limit} once truncated)",
            )
        alog = entry.accuracy_log
        if alog is not None:
            if alog.errors:
                self.add(
                    "accuracy-loadgen-errors",
                    folder / "mlperf_log_detail.txt",
                    f"LoadGen errors: {'; '.join(alog.errors[:3])}",
                )
            # As the official checker: the v6.0+ key when LoadGen logs it, else the QSL size.
            total = _detail_int(folder, "effective_accuracy_sample_count")
            if total is None:
                total = _detail_int(folder, "qsl_reported_total_count")
            if (
                mrules
                and mrules.dataset_size
                and total is not None
                and total != mrules.dataset_size
            ):
                self.add(
                    "accuracy-dataset-size",
                    folder / "mlperf_log_detail.txt",
                    f"accuracy run covered {total} samples, the dataset has {mrules.dataset_size}",
                    # v6.x: the official (modular) checker fails the result in every
                    # division. Up to v5.1 it only logged it: perfpilot fails closed
                    # submissions and warns for the open division there.
                    self._sev(entry.division, "accuracy-dataset-size")
                    if self.rules.layout == "v6"
                    else WARNING
                    if entry.division == "open"
                    else ERROR,
                )
        if len(shown) == 1:
            return shown[0]
        return " ".join(f"{m}: {acc.values[m]}" for m in metrics if m in acc.values)

    def _perf_rules(
        self,
        res: LoadgenResult,
        path: Path,
        mrules: ModelRules | None,
        division: str,
        seeds: dict[str, int] | None = None,
    ) -> None:
        detail = path / "mlperf_log_detail.txt"

        def sev(rule: str) -> str:
            return (
                WARNING if (division == "open" and self.relax and rule in LENGTH_RULES) else ERROR
            )

        if res.valid is not True:
            why = "; ".join(res.invalid_reasons) or "result is not VALID"
            self.add("perf-invalid", detail, f"LoadGen judged the run INVALID ({why})")
        if res.errors:
            self.add("perf-loadgen-errors", detail, f"LoadGen errors: {'; '.join(res.errors[:3])}")
        want = seeds or self.rules.seeds
        wrong = [k for k in rounds.SEED_KEYS if res.seeds.get(k) != want[k]]
        if wrong:
            carried = rounds.round_for_seeds(res.seeds)
            self.add(
                "perf-seeds",
                detail,
                ", ".join(f"{k} is {res.seeds.get(k)} (want {want[k]})" for k in wrong)
                + f": not the seeds of round {self.rules.name}"
                + (f" (they are {carried}'s)" if carried else ""),
            )
        eff = res.effective
        scen = res.scenario
        if mrules is not None:
            psc = _as_int(eff.get("performance_sample_count"))
            if psc is not None and psc < mrules.performance_sample_count:
                self.add(
                    "perf-sample-count",
                    detail,
                    f"performance_sample_count {psc} < {mrules.performance_sample_count}",
                    sev("perf-sample-count"),
                )
            if mrules.equal_issue and not eff.get("sample_concatenate_permutation"):
                self.add("perf-equal-issue", detail, "equal-issue mode was off")
            if scen == "Offline":
                spq = _as_int(eff.get("samples_per_query"))
                need = mrules.offline_min_samples_per_query
                if spq is not None and spq < need:
                    self.add(
                        "perf-offline-samples",
                        detail,
                        f"Offline issued {spq} samples, the round needs at least {need}",
                        sev("perf-offline-samples"),
                    )
            bound = mrules.latency_constraint_ns.get(scen)
            target = _as_int(eff.get("target_latency_ns"))
            if bound and target is not None and target > bound:
                self.add(
                    "perf-latency-bound",
                    detail,
                    f"{scen} target latency {target / 1e6:g} ms is over the bound "
                    f"{bound / 1e6:g} ms",
                )
            if scen not in ("Server", "SingleStream", "MultiStream"):  # no early stopping
                mq = _as_int(eff.get("min_query_count"))
                need_q = mrules.min_queries.get(scen)
                if need_q and mq is not None and mq < need_q:
                    self.add(
                        "perf-min-queries",
                        detail,
                        f"min_query_count {mq} < {need_q}",
                        sev("perf-min-queries"),
                    )
        min_ms = _as_int(eff.get("min_duration_ms"))
        need_ms = int(self.common["min_duration_ms"])
        if min_ms is not None and min_ms < need_ms:
            self.add(
                "perf-min-duration",
                detail,
                f"min_duration was {min_ms / 1000:g} s, the rules need {need_ms / 1000:g} s",
                sev("perf-min-duration"),
            )
        if scen in ("Server", "SingleStream", "MultiStream") and "early stopping not met" in (
            res.invalid_reasons
        ):
            self.add(
                "perf-early-stopping",
                detail,
                "the early-stopping condition was not met",
                sev("perf-early-stopping"),
            )

    def _performance(
        self, entry: ScenarioEntry, mrules: ModelRules | None
    ) -> tuple[float | None, bool]:
        res = entry.performance
        if res is None:
            if is_dir(entry.performance_dir):
                self.add(
                    "perf-unreadable",
                    entry.performance_dir,
                    "; ".join(entry.problems) or "no readable LoadGen log",
                )
            return None, False
        self._perf_rules(res, entry.performance_dir, mrules, entry.division)
        inferred = False
        value = res.metric
        if res.scenario != entry.scenario:
            value, inferred = _inferred(entry, res)
            if not inferred:
                self.add(
                    "perf-scenario-mismatch",
                    entry.performance_dir / "mlperf_log_detail.txt",
                    f"the log is a {res.scenario} run in the {entry.scenario} folder",
                )
        return value, inferred

    def _compliance(self, entry: ScenarioEntry, mrules: ModelRules) -> bool:
        ok = True
        for test in mrules.compliance:
            folder = entry.compliance_dir / test
            found = entry.compliance.get(test)
            if found is None:
                self.add("compliance-missing", folder, f"{test} is missing")
                ok = False
                continue
            verify = folder / "verify_performance.txt"
            if not is_file(verify):
                self.add("compliance-files", verify, "verify_performance.txt is missing")
                ok = False
            elif "TEST PASS" not in verify.read_text(errors="replace"):
                self.add("compliance-failed", verify, f"{test} performance check did not pass")
                ok = False
            run = folder / "performance" / "run_1"
            self._files(run, REQUIRED_PERF_FILES, OPTIONAL_PERF_FILES)
            if found.performance is not None:
                seeds = self.rules.test05_seeds if test == "TEST05" else None
                self._perf_rules(found.performance, run, mrules, entry.division, seeds)
            if test == "TEST01":
                ok &= self._test01(folder)
        return ok

    def _test01(self, folder: Path) -> bool:
        verify = folder / "verify_accuracy.txt"
        if not is_file(verify):
            self.add("compliance-files", verify, "verify_accuracy.txt is missing")
            return False
        passed = "TEST PASS" in verify.read_text(errors="replace")
        acc = folder / "accuracy"
        needed: tuple[str, ...] = ("mlperf_log_accuracy.json", "accuracy.txt")
        if not passed:
            needed += ("baseline_accuracy.txt", "compliance_accuracy.txt")
        before = len(self.findings)
        self._files(acc, needed, ())
        return len(self.findings) == before

    def _csv_v6(self, entry: ScenarioEntry, row: ResultRow) -> dict[str, str]:
        """A row as the modular checker (v6.x) writes it: every value quoted, the
        accuracy as ``acc: 76.1``, Location the performance run folder."""
        sj = entry.system_json or {}
        notes = _notes(sj)
        values = entry.accuracy.values if entry.accuracy is not None else {}
        accuracy = (
            json.dumps({k: str(v) for k, v in values.items()})
            .replace(",", " ")
            .replace('"', "")
            .replace("{", "")
            .replace("}", "")
            .strip()
        )
        nodes = _as_int(sj.get("number_of_nodes"))
        per_node = _as_int(sj.get("accelerators_per_node"))
        raw: dict[str, Any] = {
            "Organization": entry.submitter,
            "Availability": sj.get("status", ""),
            "Division": entry.division,
            "SystemType": sj.get("system_type"),
            "SystemName": sj.get("system_name"),
            "Platform": entry.system,
            "Model": entry.model,
            "MlperfModel": entry.mlperf_model,
            "Scenario": entry.scenario,
            "Result": "" if row.result is None else repr(float(row.result)),
            "Accuracy": accuracy,
            "number_of_nodes": sj.get("number_of_nodes"),
            "host_processor_model_name": sj.get("host_processor_model_name"),
            "host_processors_per_node": sj.get("host_processors_per_node"),
            "host_processor_core_count": sj.get("host_processor_core_count"),
            "accelerator_model_name": sj.get("accelerator_model_name"),
            "accelerators_per_node": sj.get("accelerators_per_node"),
            "total_accelerators": ("" if nodes is None or per_node is None else nodes * per_node),
            # the official checker joins the --input path as given
            "Location": os.path.join(str(self.root), entry.location, "performance", "run_1"),
            "framework": sj.get("framework"),
            "operating_system": sj.get("operating_system"),
            "notes": notes,
            "compliance": entry.division,  # what the official checker writes here
            "errors": row.errors,
            "version": self.rules.name,
            "inferred": 1 if row.inferred else 0,
            "has_power": "False",
            "Units": row.units,
            "weight_data_types": (entry.measurements or {}).get("weight_data_types", ""),
            "design_power_watts": "None",  # no power measurement
            "PrivateID": "",
        }
        return {k: '"' + str("" if v is None else v) + '"' for k, v in raw.items()}

    def _csv(self, entry: ScenarioEntry, row: ResultRow) -> dict[str, str]:
        if self.rules.layout == "v6":
            return self._csv_v6(entry, row)
        sj = entry.system_json or {}
        notes = _notes(sj)

        def q(value: Any) -> str:
            return '"' + str(value if value is not None else "") + '"'

        return {
            "Organization": entry.submitter,
            "Availability": str(sj.get("status", "")).lower(),
            "Division": entry.division,
            "SystemType": q(sj.get("system_type")),
            "SystemName": q(sj.get("system_name")),
            "Platform": entry.system,
            "Model": entry.model,
            "MlperfModel": entry.mlperf_model,
            "Scenario": entry.scenario,
            "Result": "" if row.result is None else repr(float(row.result)),
            "Accuracy": row.accuracy,
            "number_of_nodes": str(sj.get("number_of_nodes", "")),
            "host_processor_model_name": q(sj.get("host_processor_model_name")),
            "host_processors_per_node": str(sj.get("host_processors_per_node", "")),
            "host_processor_core_count": str(sj.get("host_processor_core_count", "")),
            "accelerator_model_name": q(sj.get("accelerator_model_name")),
            "accelerators_per_node": q(sj.get("accelerators_per_node")),
            "Location": entry.location,
            "framework": q(sj.get("framework")),
            "operating_system": q(sj.get("operating_system")),
            "notes": q(notes),
            "compliance": "1" if row.compliance else "0",
            "errors": str(row.errors),
            "version": self.rules.name,
            "inferred": "1" if row.inferred else "0",
            "has_power": "False",
            "Units": row.units,
            "weight_data_types": q(
                str((entry.measurements or {}).get("weight_data_types", "")).replace('"', "'")
            ),
        }


def _notes(sj: dict[str, Any]) -> str:
    """The CSV's notes: hw_notes, then sw_notes, joined as the official checker does."""
    notes = str(sj.get("hw_notes", "") or "")
    if sj.get("sw_notes"):
        notes = (notes + ". " if notes else "") + str(sj["sw_notes"])
    return notes


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _detail_float(folder: Path, key: str) -> float | None:
    from perfpilot.engine.logparse import read_detail

    detail = folder / "mlperf_log_detail.txt"
    if not is_file(detail):
        return None
    try:
        value = read_detail(detail).get(key)
        return None if value is None else float(value)
    except (UsageError, TypeError, ValueError):
        return None


def _detail_int(folder: Path, key: str) -> int | None:
    from perfpilot.engine.logparse import read_detail

    detail = folder / "mlperf_log_detail.txt"
    if not is_file(detail):
        return None
    try:
        return _as_int(read_detail(detail).get(key))
    except UsageError:
        return None


def _inferred(entry: ScenarioEntry, res: LoadgenResult) -> tuple[float | None, bool]:
    """Offline from SingleStream/MultiStream, MultiStream from SingleStream (edge rules)."""
    eff = res.effective
    if entry.scenario == "Offline" and res.scenario == "MultiStream":
        mean = res.latency_ns.get("mean")
        spq = _as_int(eff.get("samples_per_query")) or 8
        return (spq * 1000 / (mean / 1e6) if mean else None), True
    if entry.scenario == "Offline" and res.scenario == "SingleStream":
        qps = _detail_float(entry.performance_dir, "result_qps_without_loadgen_overhead")
        mean = res.latency_ns.get("mean")
        return (qps if qps is not None else (1e9 / mean if mean else None)), True
    if entry.scenario == "MultiStream" and res.scenario == "SingleStream":
        return (res.metric * 8 if res.metric is not None else None), True
    return res.metric, False


def resolve_round(tree: SubmissionTree, round_name: str | None) -> tuple[RoundRules, str]:
    """The round to check against: the option, else the one whose seeds the logs carry."""
    if round_name:
        return rounds.get_round(round_name), "option"
    for entry in tree.entries:
        if entry.performance is not None:
            found = rounds.round_for_seeds(entry.performance.seeds)
            if found:
                return rounds.get_round(found), "seeds"
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
    tree = read_tree(root)
    rules, source = resolve_round(tree, round_name)
    checker = _Checker(tree, rules, relax_lengths)
    checker.structure()
    rows = checker.results()
    checker.finalize(rows)
    if not tree.entries:
        checker.add("missing-file", tree.root, "no results found (results/<system>/<model>/...)")
    return CheckReport(
        root=str(tree.root),
        round=rules.name,
        round_source=source,
        findings=checker.findings,
        results=rows,
        relaxed=relax_lengths,
    )


def write_csv(report: CheckReport, path: Path) -> None:
    """Write the summary CSV atomically."""
    from perfpilot.artifacts.files import atomic_write_text

    atomic_write_text(path, report.csv_text())


def read_csv_rows(text: str) -> list[dict[str, str]]:
    """Parse a summary CSV (ours or the official one) into dicts, for comparisons."""
    return list(csv.DictReader(io.StringIO(text)))
