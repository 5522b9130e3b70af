"""The rules applied to every result, in order: placement, measurements, files, accuracy,
performance, compliance; one :class:`ResultRow` per result."""

from __future__ import annotations

import os
from pathlib import Path

from perfpilot.submission.check.accuracy import check_accuracy, shown_accuracy
from perfpilot.submission.check.compliance import check_compliance
from perfpilot.submission.check.context import Context
from perfpilot.submission.check.csv_formats import UNITS, csv_row
from perfpilot.submission.check.endpoints import check_audits, check_endpoints, shown_scores
from perfpilot.submission.check.files import (
    OPTIONAL_ACC_FILES,
    OPTIONAL_PERF_FILES,
    REQUIRED_ACC_FILES,
    check_folder_files,
)
from perfpilot.submission.check.findings import ERROR, WARNING, ResultRow
from perfpilot.submission.check.measurements import check_measurements
from perfpilot.submission.check.performance import check_performance
from perfpilot.submission.check.power import check_power, has_power, perf_files, power_only
from perfpilot.submission.check.scenarios import (
    MODEL_LAST_RULES,
    MODEL_RULES,
    SCENARIO_LAST_RULES,
    SCENARIO_RULES,
    ModelResults,
    model_results,
)
from perfpilot.submission.tree import ScenarioEntry


def check_results(ctx: Context) -> list[ResultRow]:
    """Check every result of the tree; a row passes when nothing under its folders (or
    its system JSON) has errors, whichever rule found them."""
    checked: list[tuple[ResultRow, ScenarioEntry]] = []
    groups: dict[tuple[str, str, str, str], list[ScenarioEntry]] = {}
    for entry in ctx.tree.entries:
        key = (entry.division, entry.submitter, entry.system, entry.model)
        groups.setdefault(key, []).append(entry)
    for entries in groups.values():
        checked.extend(_model(ctx, entries))
    for row, entry in checked:
        places = (entry.path, entry.measurements_dir, entry.compliance_dir, entry.system_path)
        if any(ctx.errors_of(p) for p in places) or row.errors:
            row.passed = False
    if ctx.rules.layout == "v4":
        _errors_column(checked)
    return [row for row, _ in checked]


def _errors_column(checked: list[tuple[ResultRow, ScenarioEntry]]) -> None:
    """The CSV's errors column as the checkers up to v5.1 write it: how many of the
    model's scenarios failed before this one, in the order the folder lists them
    (``os.listdir``, unsorted, as theirs). The modular checker (v6.x) writes 0."""
    by_model: dict[Path, list[tuple[ResultRow, ScenarioEntry]]] = {}
    for row, entry in checked:
        by_model.setdefault(entry.path.parent, []).append((row, entry))
    for folder, rows in by_model.items():
        try:
            order = {name: i for i, name in enumerate(os.listdir(folder))}
        except OSError:
            continue
        failed = 0
        for row, _ in sorted(rows, key=lambda pair: order.get(pair[1].scenario_dir, 0)):
            row.errors = failed
            for values in (row.csv, row.power_csv):
                if "errors" in values:
                    values["errors"] = str(failed)
            failed += 0 if row.passed else 1


def _model(ctx: Context, entries: list[ScenarioEntry]) -> list[tuple[ResultRow, ScenarioEntry]]:
    model = model_results(ctx, entries)
    n_before = len(ctx.findings)
    for model_rule in MODEL_RULES:
        model_rule(ctx, model)
    # the model is not one of the round's, or not on this category: the official
    # checker writes none of its rows
    before = sum(f.severity == ERROR for f in ctx.findings[n_before:])
    checked: list[tuple[ResultRow, ScenarioEntry]] = []
    for entry in sorted(entries, key=lambda e: e.scenario):
        for rule in SCENARIO_RULES:
            rule(ctx, model, entry)
        checked.append((_scenario(ctx, model, entry, before), entry))
    for model_rule in MODEL_LAST_RULES:
        model_rule(ctx, model)
    return checked


def _scenario(ctx: Context, model: ModelResults, entry: ScenarioEntry, before: int) -> ResultRow:
    n_before = len(ctx.findings)
    mrules = model.mrules
    check_measurements(ctx, entry)
    compliance = True
    power = None
    if entry.endpoints is not None:  # v6.1 MLPerf Endpoints: no LoadGen logs
        result, inferred = check_endpoints(ctx, entry, mrules), False
        if model.closed and mrules is not None:
            compliance = check_audits(ctx, entry, mrules)
    else:
        # the modular checker (v6.x) lists only the files a run needs, and takes runs that
        # hold more (the harness's metadata.json): perfpilot warns of those there
        strays = WARNING if ctx.rules.layout == "v6" else ERROR
        check_folder_files(ctx, entry.accuracy_dir, REQUIRED_ACC_FILES, OPTIONAL_ACC_FILES, strays)
        check_folder_files(
            ctx, entry.performance_dir, perf_files(entry), OPTIONAL_PERF_FILES, strays
        )
        check_accuracy(ctx, entry, mrules)
        result, inferred = check_performance(ctx, entry, mrules)
        if has_power(entry):
            power = check_power(ctx, entry)
        if model.closed and mrules is not None:
            compliance = check_compliance(ctx, entry, mrules)
    for rule in SCENARIO_LAST_RULES:
        rule(ctx, model, entry)
    errors = [f for f in ctx.findings[n_before:] if f.severity == ERROR]
    row = ResultRow(
        location=entry.location,
        division=entry.division,
        submitter=entry.submitter,
        system=entry.system,
        model=entry.model,
        mlperf_model=entry.mlperf_model,
        scenario=entry.scenario,
        result=result,
        units=(mrules.units.get(entry.scenario) if mrules else None)
        or UNITS.get(entry.scenario, ""),
        accuracy=shown_scores(entry) if entry.endpoints else shown_accuracy(entry, mrules),
        inferred=inferred,
        compliance=compliance,
        passed=not errors and result is not None,
        errors=before,  # the CSV's errors column: the model folder's errors before its scenarios
    )
    if power is not None:
        row.power, row.power_units, row.power_watts = power.metric, power.units, power.watts
        row.show_result = not power_only(entry)
    row.csv = csv_row(entry, row, ctx.rules, ctx.root)
    if power is not None:
        row.power_csv = csv_row(entry, row, ctx.rules, ctx.root, power=True)
    return row
