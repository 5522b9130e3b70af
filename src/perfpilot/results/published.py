"""Official MLPerf Inference submission trees (a folder of an MLCommons results
repository, a division, or one submitter) as published rows, with the figures the
official submission checker reports. Each tree is read by :mod:`perfpilot.submission.tree`
and checked by :mod:`perfpilot.submission.check` (one reading: the round, the figures,
units, inferred conversions, accuracy and power figures are the checker's, as its summary
CSV shows them). A result without a figure is skipped and named, the rest imported."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfpilot.errors import UsageError
from perfpilot.records import LoadgenResult
from perfpilot.results.db import ResultsDB, now_utc
from perfpilot.results.record_rows import METRICS, TOKEN_METRIC, metric_name, token_p99_ms
from perfpilot.safepaths import Skipped as SkippedPath
from perfpilot.safepaths import plain_file, walk

if TYPE_CHECKING:
    from perfpilot.submission.check.findings import ResultRow
    from perfpilot.submission.rounds import ModelRules
    from perfpilot.submission.tree import ScenarioEntry, SubmissionTree

DIVISIONS = ("closed", "open", "network")
_NOTHING_IMPORTED = "The tree is damaged; nothing was imported."
_ROUND_IN_NAME = re.compile(r"(?:^|[_\-])v(\d+\.\d+)(?:$|[_\-])", re.IGNORECASE)

# Fallback accuracy patterns for accuracy.txt lines the tree reader has no pattern for
# (speech, language models); the first that matches gives the figure.
_ACCURACY_PATTERNS = (
    re.compile(r"^accuracy=([\d.]+)%?", re.MULTILINE),
    re.compile(r"^mAP=([\d.]+)%?", re.MULTILINE),
    re.compile(r"[\"']f1[\"']\s*:\s*([\d.]+)"),
    re.compile(r"Accuracy:\s*mean\s*=\s*([\d.]+)"),
    re.compile(r"Word Error Rate:.*accuracy=([\d.]+)%"),  # whisper: accuracy, not WER
    re.compile(r"^AUC=([\d.]+)%?", re.MULTILINE),
    re.compile(r"[\"']rouge1[\"']\s*:\s*([\d.]+)", re.IGNORECASE),
)


def submitter_roots(folder: Path) -> list[Path]:
    """``<division>/<submitter>`` folders at or below ``folder`` (or the one it is in)."""
    folder = folder.absolute()
    found: set[Path] = set()
    for here in (folder, folder.parent, folder.parent.parent):
        if here.parent.name.lower() in DIVISIONS and (here / "results").is_dir():
            found.add(here)
            break
    for level in walk(folder):  # never through a link out of the tree
        depth = len(level.folder.relative_to(folder).parts)
        if "results" in level.folders and level.folder.parent.name.lower() in DIVISIONS:
            found.add(level.folder)
        if depth >= 3:
            level.folders.clear()  # results/ lies at most three folders down
    return sorted(found)


def skipped_in(folder: Path) -> list[SkippedPath]:
    """What an import of ``folder`` leaves out: links (never followed) and special files."""
    return [s for level in walk(folder.absolute()) for s in level.skipped]


def read_trees(folder: Path) -> list[tuple[SubmissionTree, list[ScenarioEntry]]]:
    """The submission trees at, in or around ``folder`` (read with
    :mod:`perfpilot.submission.tree`) and the results of each that ``folder`` covers (a
    performance log, or MLPerf Endpoints files); an error if there is none."""
    from perfpilot.submission.tree import read_tree

    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder", "Give the folder of a submission tree.")
    roots = submitter_roots(folder)
    trees: list[tuple[SubmissionTree, list[ScenarioEntry]]] = []
    for tree_root in sorted({r.parent.parent for r in roots}):
        wanted = {(r.parent.name, r.name) for r in roots if r.parent.parent == tree_root}
        tree = read_tree(tree_root)
        entries = [
            e
            for e in tree.entries
            if (e.division, e.submitter) in wanted
            and (e.performance_dir.is_dir() or e.endpoints is not None)
        ]
        if entries:
            trees.append((tree, entries))
    if not trees:
        raise UsageError(
            f"{folder} is not an MLPerf submission tree: found no "
            "<division>/<submitter>/results/<system>/<model>/<scenario>/performance/run_1 logs",
            "Give a results repository folder, a division folder (closed, open, network) "
            "or a submitter's folder.",
        )
    return trees


def find_entries(folder: Path) -> list[ScenarioEntry]:
    """Every result of the submission trees at, in or around ``folder``."""
    return [e for _, entries in read_trees(folder) for e in entries]


def round_of(folder: Path, result: LoadgenResult | None, given: str | None = None) -> str | None:
    """The round given, else a ``vX.Y`` in a folder name on the path (the results
    repositories are named so), else None: the checker then takes the logs' seeds.
    LoadGen's version is no guide (a round's runs may use the previous LoadGen)."""
    if given:
        return given if given.startswith("v") else f"v{given}"
    for part in reversed(folder.absolute().parts):
        match = _ROUND_IN_NAME.search(part)
        if match:
            return f"v{match.group(1)}"
    return None


def read_accuracy(path: Path) -> tuple[float | None, str | None]:
    """The accuracy figure of an ``accuracy.txt`` and its first line."""
    if not plain_file(path):
        return None, None
    text = path.read_text(errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), None)
    for pattern in _ACCURACY_PATTERNS:
        match = pattern.search(text)
        if match:
            return float(match.group(1)), first
    return None, first


def _read_conf(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if plain_file(path):
        for line in path.read_text(errors="replace").splitlines():
            key, sep, value = line.split("#", 1)[0].partition("=")
            if sep and key.strip():
                out[key.strip()] = value.strip()
    return out


def _accuracy(entry: ScenarioEntry, mrules: ModelRules | None) -> tuple[float | None, str | None]:
    """The accuracy figure: the first metric the round's checker reads for the model
    (whisper's ACCURACY, not its WER), as the checker read it; else the fallback
    patterns."""
    value, first_line = read_accuracy(entry.accuracy_dir / "accuracy.txt")
    if entry.accuracy is not None:
        metrics = [m for m, _ in mrules.accuracy] if mrules else list(entry.accuracy.values)
        for metric in metrics:
            found = entry.accuracy.value(metric)
            if found is not None:
                return found, first_line
    return value, first_line


def official_figure(entry: ScenarioEntry, round_name: str | None) -> dict[str, Any]:
    """The figure the official checker reports for a result: value, metric name, units
    and the units the official summary CSV writes. Token benchmarks report tokens/s
    (Interactive too, from its Server log): the model's own detail key where the round
    names one."""
    from perfpilot.submission import rounds
    from perfpilot.submission.check.csv_formats import UNITS
    from perfpilot.submission.check.performance import official_value

    result = entry.performance
    assert result is not None
    mrules = None
    if round_name in rounds.ROUNDS:
        rules = rounds.get_round(round_name)
        mrules = rules.models.get(rules.aliases.get(entry.model, entry.mlperf_model))
    value = official_value(entry.performance_dir, result, mrules)
    key = mrules.metric_keys.get(result.scenario, "") if mrules else ""
    if "tokens" in key:
        metric: str | None = TOKEN_METRIC
    elif key:
        metric = METRICS.get(result.scenario)
    else:
        metric = metric_name(entry.scenario, result.metric_unit)
    summary = (mrules.units.get(entry.scenario) if mrules else None) or UNITS.get(entry.scenario)
    # v5.1's checker writes Queries/s for llama3.1-8b Interactive: the figure is tokens/s
    units = "Tokens/s" if metric == TOKEN_METRIC else summary
    return {"value": value, "metric": metric, "units": units, "summary_units": summary}


class Skipped(Exception):
    """A result the import leaves out (no figure the checker could read), and why."""


def entry_row(
    entry: ScenarioEntry,
    folder: Path,
    round_name: str | None,
    imported: str,
    checked: ResultRow | None = None,
) -> dict[str, Any]:
    """The database row of one published result, with the figures of ``checked`` (the
    checker's row of it); :class:`Skipped` when it has no figure to import."""
    if entry.endpoints is not None:
        try:
            return endpoints_row(entry, folder, round_name, imported)
        except UsageError as err:
            raise Skipped(err.message) from err
    result = entry.performance
    if result is None:
        raise Skipped("; ".join(entry.problems) or "no performance result")
    mrules = _model_rules(entry, round_name)
    accuracy, accuracy_line = _accuracy(entry, mrules)
    system_desc = entry.system_json or {}
    accelerators = str(system_desc.get("accelerators_per_node", "0")).strip()
    device = (
        "cpu"
        if accelerators in ("", "0", "N/A")
        else str(system_desc.get("accelerator_model_name") or "accelerator")
    )
    lat = result.latency_ns
    ttft, tpot = token_p99_ms(result)
    rnd = round_of(folder, result, round_name)
    figure = official_figure(entry, rnd)
    if checked is not None:  # the checker's figure: inferred scenarios converted
        figure["value"] = checked.result
    if figure["value"] is None:
        raise Skipped(f"no {entry.scenario} figure in the logs ({figure['summary_units']})")
    power = None
    if checked is not None and checked.power is not None:
        power = {
            "value": checked.power,
            "units": checked.power_units,
            "avg_watts": checked.power_watts,
        }
    return {
        "id": f"published/{rnd or 'unknown'}/{entry.division}/{entry.submitter}/"
        f"{entry.system}/{entry.model}/{entry.scenario}",
        "source": "published",
        "run_id": None,
        "model": entry.model,
        "scenario": entry.scenario,
        "mode": "performance",
        "backend": system_desc.get("framework"),
        "device": device,
        "system": entry.system,
        "submitter": entry.submitter,
        "division": entry.division,
        "round": rnd,
        "status": "ok",
        "valid": result.valid,
        "metric": figure["metric"] if figure["value"] is not None else None,
        "value": figure["value"],
        "accuracy": accuracy,
        "p90_ms": lat["p90"] / 1e6 if "p90" in lat else None,
        "p99_ms": lat["p99"] / 1e6 if "p99" in lat else None,
        "ttft_p99_ms": ttft,
        "tpot_p99_ms": tpot,
        "standin": entry.standin,
        "started": None,
        "tags": {},
        "run_dir": str(entry.performance_dir),
        "config": {
            "user_conf": _read_conf(entry.measurements_dir / "user.conf"),
            "effective": result.effective,
        },
        "provenance": {
            "imported_from": str(entry.path),
            "imported": imported,
            "layout": entry.layout,
            "checker_model": entry.mlperf_model,
            # the figure's units (and the summary CSV's), and what a token run adds: the
            # scenario LoadGen ran
            # (Server for Interactive), samples/s and the p99 token latencies
            "units": figure["units"],
            "summary_units": figure["summary_units"],
            "log_scenario": result.scenario,
            "samples_per_second": result.samples_per_second,
            "ttft_p99_ms": result.ttft_ns["p99"] / 1e6 if "p99" in result.ttft_ns else None,
            "tpot_p99_ms": result.tpot_ns["p99"] / 1e6 if "p99" in result.tpot_ns else None,
            "loadgen_version": result.loadgen_version,
            "invalid_reasons": result.invalid_reasons,
            "accuracy_line": accuracy_line,
            # as the official summary CSV shows them
            "accuracy_text": checked.csv.get("Accuracy", "").strip('"') if checked else None,
            "inferred": checked.inferred if checked else None,
            "checker_passed": checked.passed if checked else None,
            "power": power,
            "compliance": sorted(entry.compliance),
            "problems": entry.problems,
            "system_description": system_desc,
        },
    }


def _device(system_desc: dict[str, Any]) -> str:
    accelerators = str(system_desc.get("accelerators_per_node", "0")).strip()
    if accelerators in ("", "0", "N/A"):
        return "cpu"
    return str(system_desc.get("accelerator_model_name") or "accelerator")


def endpoints_row(
    entry: ScenarioEntry, folder: Path, round_name: str | None, imported: str
) -> dict[str, Any]:
    """The row of an MLPerf Endpoints result (v6.1): tokens/s (the summary's ``tps``) for
    a token benchmark, else the official checker's figure, the p99 TTFT and TPOT of
    result_summary.json; the provenance flags ``endpoints`` and keeps the checker's
    figure (samples/s for Interactive, none for llama3.1-8b Offline)."""
    from perfpilot.submission import rounds
    from perfpilot.submission.check.csv_formats import UNITS
    from perfpilot.submission.check.endpoints import figure

    ep = entry.endpoints
    assert ep is not None
    if ep.summary is None:
        raise UsageError(
            f"cannot import {entry.path}: no readable {ep.summary_path.name}",
            _NOTHING_IMPORTED,
        )
    rnd = round_name if round_name else round_of(folder, None) or "v6.1"
    rnd = rnd if rnd.startswith("v") else f"v{rnd}"
    mrules = None
    if rnd in rounds.ROUNDS:
        rules = rounds.get_round(rnd)
        mrules = rules.models.get(rules.aliases.get(entry.model, entry.mlperf_model))
    scenario = ep.scenario(entry.scenario)
    values = ep.values
    checker_figure = figure(ep, scenario, mrules)
    value = checker_figure
    metric = METRICS.get(scenario or entry.scenario)
    tps = values.get("result_completed_tokens_per_second")
    if (
        mrules is not None
        and mrules.token_latencies
        and tps is not None
        and scenario != "SingleStream"
    ):
        # token benchmarks compare in tokens/s: the checker's figure of Interactive is
        # samples/s and it has none for Offline, but the summary's tps is the figure
        value, metric = tps, TOKEN_METRIC
    if value is None:
        raise UsageError(
            f"cannot import {entry.path}: {ep.summary_path.name} holds no result (a skeleton "
            "tree?)",
            _NOTHING_IMPORTED,
        )
    summary = (mrules.units.get(entry.scenario) if mrules else None) or UNITS.get(entry.scenario)

    def ms(key: str) -> float | None:
        return values[key] / 1e6 if key in values else None

    ttft = ms("result_first_token_99.00_percentile_latency_ns")
    tpot = ms("result_time_per_output_token_99.00_percentile_ns")
    system_desc = entry.system_json or {}
    scores = ep.scores
    score = scores[0] if scores else None
    return {
        "id": f"published/{rnd}/{entry.division}/{entry.submitter}/"
        f"{entry.system}/{entry.model}/{entry.scenario}",
        "source": "published",
        "run_id": None,
        "model": entry.model,
        "scenario": entry.scenario,
        "mode": "performance",
        "backend": system_desc.get("framework"),
        "device": _device(system_desc),
        "system": entry.system,
        "submitter": entry.submitter,
        "division": entry.division,
        "round": rnd,
        "status": "ok",
        "valid": ep.failed == 0,
        "metric": metric if value is not None else None,
        "value": value,
        "accuracy": float(score) if isinstance(score, int | float) else None,
        "p90_ms": ms("result_90.00_percentile_latency_ns"),
        "p99_ms": ms("result_99.00_percentile_latency_ns"),
        "ttft_p99_ms": ttft,
        "tpot_p99_ms": tpot,
        "standin": entry.standin,
        "started": None,
        "tags": {},
        "run_dir": str(ep.summary_path.parent),
        "config": {"endpoints_config": ep.config or {}},
        "provenance": {
            "imported_from": str(entry.path),
            "imported": imported,
            "layout": entry.layout,
            "checker_model": entry.mlperf_model,
            "endpoints": True,  # an MLPerf Endpoints result, not LoadGen logs
            "checker_figure": checker_figure,  # the official summary's Result
            "units": "Tokens/s" if metric == TOKEN_METRIC else summary,
            "summary_units": summary,
            "log_scenario": ep.scenario_text,
            "samples_per_second": values.get("result_completed_samples_per_sec")
            or values.get("result_samples_per_second"),
            "ttft_p99_ms": ttft,
            "tpot_p99_ms": tpot,
            "endpoints_version": ep.summary.get("version"),
            "failed_samples": ep.failed,
            "accuracy_scores": scores,
            "compliance": sorted(entry.compliance),
            "problems": entry.problems,
            "system_description": system_desc,
        },
    }


def _model_rules(entry: ScenarioEntry, round_name: str | None) -> ModelRules | None:
    from perfpilot.submission import rounds

    if round_name not in rounds.ROUNDS:
        return None
    rules = rounds.get_round(round_name)
    return rules.models.get(rules.aliases.get(entry.model, entry.mlperf_model))


@dataclass
class ImportReport:
    """What an import wrote (row ids) and what it left out (location, why)."""

    ids: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


def checked_results(
    folder: Path, round_name: str | None = None
) -> list[tuple[ScenarioEntry, ResultRow, str]]:
    """Every result of the trees in ``folder`` with the checker's row of it and the round
    (the option, else a ``vX.Y`` in the folder's name, else the logs' seeds); an error
    if there is none. A round name perfpilot has no rules for labels the rows only."""
    from perfpilot.submission import rounds
    from perfpilot.submission.check import check_read_tree

    if round_name:  # as 'submission check --round' takes it: a round with known rules
        round_name = rounds.get_round(round_name).name
    out: list[tuple[ScenarioEntry, ResultRow, str]] = []
    label = round_of(folder, None, round_name)
    check_round = label if label in rounds.ROUNDS else None
    for tree, entries in read_trees(folder):  # not a tree: an error before any check
        report = check_read_tree(tree, check_round)
        rows = {r.location: r for r in report.results}
        out.extend((e, rows[e.location], label or report.round) for e in entries)
    return out


def prepare_import(folder: Path, round_name: str | None = None) -> ImportReport:
    """Read and check every result of the trees in ``folder`` into rows, before anything
    is written: the results without a figure are named in ``skipped``; a UsageError when
    nothing at all can be imported (a skeleton tree), so no database file is made."""
    checked = checked_results(folder, round_name)
    imported = now_utc()
    report = ImportReport()
    for entry, row, rnd in checked:
        try:
            report.rows.append(entry_row(entry, folder, rnd, imported, row))
        except Skipped as why:
            report.skipped.append((entry.location, str(why)))
    if not report.rows:
        first = report.skipped[0] if report.skipped else ("", "no result")
        raise UsageError(
            f"nothing to import from {folder}: {len(report.skipped)} result(s), none with a "
            f"figure (first: {first[0]}: {first[1]})",
            "A published tree has a LoadGen log with a result in each performance/run_1.",
        )
    report.ids = [row["id"] for row in report.rows]
    return report


def import_tree_report(db: ResultsDB, folder: Path, round_name: str | None = None) -> ImportReport:
    """Import every sound result of the submission trees in ``folder`` in one
    transaction (an error or Ctrl-C half-way leaves the database as it was); results
    without a figure are skipped and named. Re-importing a tree replaces its rows."""
    report = prepare_import(folder, round_name)
    db.add_rows(iter(report.rows), import_path=str(folder.absolute()))
    return report


def import_tree(db: ResultsDB, folder: Path, round_name: str | None = None) -> list[str]:
    """``import_tree_report``'s row ids."""
    return import_tree_report(db, folder, round_name).ids
