"""The summary CSV's two formats: the older checker's (up to v5.1) and the modular one (v6.x).

One row per result, formatted value by value as the official checker writes it, so that
a row of ours equals the official row byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from perfpilot.submission import rounds
from perfpilot.submission.check.findings import ResultRow
from perfpilot.submission.check.values import as_int, detail_value
from perfpilot.submission.rounds import RoundRules
from perfpilot.submission.tree import ScenarioEntry

UNITS = {
    "SingleStream": "Latency (ms)",
    "MultiStream": "Latency (ms)",
    "Offline": "Samples/s",
    "Server": "Queries/s",
    "Interactive": "Queries/s",
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


def columns_for(round_name: str) -> list[str]:
    """The official columns of a round (weight_data_types from v5.0 on; the modular
    checker's set for the v6.x layout)."""
    if rounds.get_round(round_name).layout == "v6":
        return CSV_COLUMNS_V6
    extra = [] if round_name == "v4.1" else ["weight_data_types"]
    return CSV_COLUMNS + extra


def csv_row(
    entry: ScenarioEntry, row: ResultRow, rules: RoundRules, root: Path, *, power: bool = False
) -> dict[str, str]:
    """The CSV values of one result, in the format of the round's checker; with ``power``
    its power row (the power figure and units in Result and Units)."""
    if rules.layout == "v6":
        values = _row_v6(entry, row, rules, root)
    else:
        values = _row_v4(entry, row, rules)
    if power and row.power is not None:
        quote = '"' if rules.layout == "v6" else ""
        values["Result"] = quote + repr(float(row.power)) + quote
        values["Units"] = quote + row.power_units + quote
    return values


def _row_v6(entry: ScenarioEntry, row: ResultRow, rules: RoundRules, root: Path) -> dict[str, str]:
    """A row as the modular checker (v6.x) writes it: every value quoted, the
    accuracy as ``acc: 76.1``, Location the performance run folder."""
    sj = entry.system_json or {}
    notes = _notes(sj)
    # the modular checker flags a result as inferred when the folder's name, as written,
    # is not the log's scenario: an Interactive result (a Server log), a lower-case folder
    logged = entry.performance.scenario if entry.performance is not None else None
    inferred = logged is not None and entry.scenario_dir != logged
    accuracy = accuracy_cell(entry, rules)
    if entry.endpoints is not None:
        # the checker compares config.yaml's type as written (online) with the folder's
        # scenario, so it flags an Endpoints result as inferred
        typed = entry.endpoints.scenario_text
        inferred = typed != entry.scenario and (typed, entry.scenario) != (
            "server",
            "interactive",
        )
        accuracy = row.accuracy
    nodes = as_int(sj.get("number_of_nodes"))
    per_node = as_int(sj.get("accelerators_per_node"))
    raw: dict[str, Any] = {
        "Organization": entry.submitter,
        "Availability": sj.get("status", ""),
        "Division": entry.division,
        "SystemType": sj.get("system_type"),
        "SystemName": sj.get("system_name"),
        "Platform": entry.system,
        "Model": entry.model,
        "MlperfModel": entry.mlperf_model,
        "Scenario": entry.scenario_dir,  # the folder's name as written (offline)
        "Result": _result_text(entry, row),
        "Accuracy": accuracy,
        "number_of_nodes": sj.get("number_of_nodes"),
        "host_processor_model_name": sj.get("host_processor_model_name"),
        "host_processors_per_node": sj.get("host_processors_per_node"),
        "host_processor_core_count": sj.get("host_processor_core_count"),
        "accelerator_model_name": sj.get("accelerator_model_name"),
        "accelerators_per_node": sj.get("accelerators_per_node"),
        "total_accelerators": ("" if nodes is None or per_node is None else nodes * per_node),
        # the official checker joins the --input path as given
        "Location": os.path.join(str(root), entry.location, "performance", "run_1"),
        "framework": sj.get("framework"),
        "operating_system": sj.get("operating_system"),
        "notes": notes,
        "compliance": entry.division,  # what the official checker writes here
        "errors": row.errors,
        "version": rules.name,
        "inferred": 1 if row.inferred or inferred else 0,
        "has_power": str(row.power is not None),
        "Units": row.units,
        "weight_data_types": (entry.measurements or {}).get("weight_data_types", ""),
        "design_power_watts": _design_power(entry, row, rules, root),
        "PrivateID": "",
    }
    return {k: '"' + str("" if v is None else v) + '"' for k, v in raw.items()}


def _result_text(entry: ScenarioEntry, row: ResultRow) -> str:
    """The Result cell as the checkers print it: a float, except an Offline figure
    inferred from a SingleStream run, which is the log's
    ``result_qps_without_loadgen_overhead`` as logged (``1029`` where LoadGen wrote an
    integer)."""
    if row.result is None:
        return ""
    res = entry.performance
    if (
        row.inferred
        and res is not None
        and (res.scenario, entry.scenario)
        == (
            "SingleStream",
            "Offline",
        )
    ):
        raw = detail_value(entry.performance_dir, "result_qps_without_loadgen_overhead")
        if isinstance(raw, int) and not isinstance(raw, bool) and raw == row.result:
            return str(raw)
    return repr(float(row.result))


def _row_v4(entry: ScenarioEntry, row: ResultRow, rules: RoundRules) -> dict[str, str]:
    """A row as the checker of v4.1 to v5.1 writes it: text fields quoted, numbers bare."""
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
        "Result": _result_text(entry, row),
        # v4.1's checker writes the value of the first metric, v5.x's metric: value pairs
        "Accuracy": _first_accuracy(entry, rules)
        if rules.name == "v4.1"
        else accuracy_cell(entry, rules),
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
        "version": rules.name,
        "inferred": "1" if row.inferred else "0",
        "has_power": str(row.power is not None),
        "Units": row.units,
        "weight_data_types": q(
            str((entry.measurements or {}).get("weight_data_types", "")).replace('"', "'")
        ),
    }


def accuracy_cell(entry: ScenarioEntry, rules: RoundRules) -> str:
    """The Accuracy cell as the checkers since v5.0 print their dict of values: the
    metrics with a target, in their order (``ROUGE1: 38.7  ROUGE2: 15.9``)."""
    values = entry.accuracy.values if entry.accuracy is not None else {}
    mrules = rules.models.get(rules.aliases.get(entry.model, entry.mlperf_model))
    if mrules is not None:
        values = {m: values[m] for m, _ in mrules.accuracy if m in values}
    return (
        json.dumps({k: str(v) for k, v in values.items()})
        .replace(",", " ")
        .replace('"', "")
        .replace("{", "")
        .replace("}", "")
        .strip()
    )


def _design_power(entry: ScenarioEntry, row: ResultRow, rules: RoundRules, root: Path) -> Any:
    """design_power_watts as the modular checker writes it: empty in v6.0 (it has no
    nameplate file), None without power; for a power result the system JSON's
    system_power_capacity, else the PSU capacities of ``systems/<system>_power.yaml``
    (the minimum needed PSUs of each component, largest first)."""
    if rules.name == "v6.0":
        return ""
    if row.power is None:
        return None
    sj = entry.system_json or {}
    if "system_power_capacity" in sj:
        return sj["system_power_capacity"]
    path = entry.system_path.with_name(f"{entry.system}_power.yaml")
    if not path.is_file() or path.is_symlink():
        return None
    import yaml

    try:
        return _psu_watts(yaml.safe_load(path.read_text(errors="replace")))
    except yaml.YAMLError:
        return None


def _psu_watts(data: Any) -> Any:
    if isinstance(data, dict):
        keys = {str(k).lower(): k for k in data}
        if "psus" in keys and "min psus needed" in keys:
            needed = data[keys["min psus needed"]]
            psus = data[keys["psus"]]
            watts = sorted((p.get("PowerCapacityWatts", 0) for p in psus), reverse=True)
            return sum(watts[:needed])
        return sum(_psu_watts(v) for v in data.values() if isinstance(v, dict | list))
    if isinstance(data, list):
        return sum(_psu_watts(v) for v in data)
    return 0


def _first_accuracy(entry: ScenarioEntry, rules: RoundRules) -> str:
    """v4.1's Accuracy cell: the value of the model's first accuracy metric."""
    values = entry.accuracy.values if entry.accuracy is not None else {}
    mrules = rules.models.get(rules.aliases.get(entry.model, entry.mlperf_model))
    metrics = [m for m, _ in mrules.accuracy] if mrules else list(values)
    return values.get(metrics[0], "") if metrics else ""


def _notes(sj: dict[str, Any]) -> str:
    """The CSV's notes: hw_notes, then sw_notes, joined as the official checker does."""
    notes = str(sj.get("hw_notes", "") or "")
    if sj.get("sw_notes"):
        notes = (notes + ". " if notes else "") + str(sj["sw_notes"])
    return notes


def read_csv_rows(text: str) -> list[dict[str, str]]:
    """Parse a summary CSV (ours or the official one) into dicts, for comparisons."""
    return list(csv.DictReader(io.StringIO(text)))
