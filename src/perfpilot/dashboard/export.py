"""The dashboard's data: rows for the table, series for the charts, sweep Pareto fronts.

Pure functions of the rows; nothing here writes files. Values stay as data (JSON) and are
escaped where they reach HTML (run pages) or put into the page as text by the script.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from perfpilot.results.db import ROW_KEYS, benchmark_of
from perfpilot.tune.pareto import Direction

SCHEMA_VERSION = 1
# The database's metric names -> the unit shown; throughput metrics are better higher.
UNITS = {
    "samples_per_second": "samples/s",
    "queries_per_second": "queries/s",
    "tokens_per_second": "tokens/s",
    "latency_ms": "ms",
}

# Fields of a row that the index page needs (config and provenance go to the run pages).
TABLE_FIELDS = tuple(k for k in ROW_KEYS if k not in ("run_dir", "config", "provenance"))

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# JSON inside <script>: no "</script>", "<!--" or HTML entities can end or change it.
_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}

ParetoFn = Callable[[list[dict[str, Any]], dict[str, Direction]], list[dict[str, Any]]]


def script_json(data: Any) -> str:
    """JSON that is safe to place between ``<script type="application/json">`` tags."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False, default=str)
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_ESCAPES[m.group()], text)


def row_key(row: dict[str, Any]) -> str:
    """A row's identity across sources."""
    return f"{row.get('source') or 'local'}:{row.get('id') or row.get('run_id')}"


def page_names(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Row key -> file stem of its run page: safe characters only, unique, stable."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for row in rows:
        key = row_key(row)
        raw = str(row.get("run_id") or row.get("id") or "run")
        stem = _UNSAFE.sub("_", raw).strip("._")[:80] or "run"
        if stem != raw or stem.lower() in taken:
            stem = f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        taken.add(stem.lower())
        names[key] = stem
    return names


def verdict(row: dict[str, Any]) -> str:
    """One word for the table's result column: VALID, INVALID, FAILED, ..."""
    status = str(row.get("status") or "")
    if status and status.lower() not in ("ok", "valid", "invalid", "published"):
        return status.upper()
    if row.get("valid") is True:
        return "VALID"
    if row.get("valid") is False:
        return "INVALID"
    if row.get("mode") == "accuracy" and row.get("accuracy") is not None:
        return "ACCURACY"
    return status.upper() or "-"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def table_row(row: dict[str, Any], page: str) -> dict[str, Any]:
    """What the index page knows of one row: its table fields, verdict and run page."""
    out = {field: row.get(field) for field in TABLE_FIELDS}
    for field in ("value", "accuracy", "p90_ms", "p99_ms", "ttft_p99_ms", "tpot_p99_ms"):
        out[field] = _finite(out[field])
    out["tags"] = {str(k): str(v) for k, v in (row.get("tags") or {}).items()}
    out["source"] = row.get("source") or "local"
    out["verdict"] = verdict(row)
    out["unit"] = unit_of(row.get("metric")) or None
    out["benchmark"] = benchmark_of(row)
    out["page"] = f"runs/{page}.html"
    out.update(token_fields(row))
    return out


def token_fields(row: dict[str, Any]) -> dict[str, float | None]:
    """A token run's TTFT and TPOT p99 (ms) and tokens/s per user (1 / median TPOT), from
    the figures the results database keeps in its provenance; None for other runs."""
    provenance = row.get("provenance")
    tokens = provenance.get("tokens") if isinstance(provenance, dict) else None
    tokens = tokens if isinstance(tokens, dict) else {}
    tpot50 = _finite(tokens.get("tpot_p50_ms"))
    return {
        "ttft_p99_ms": _finite(tokens.get("ttft_p99_ms")),
        "tpot_p99_ms": _finite(tokens.get("tpot_p99_ms")),
        "tokens_per_user": round(1000 / tpot50, 3) if tpot50 else None,
    }


def unit_of(metric: str | None) -> str:
    """The unit of a metric name (``samples_per_second`` -> ``samples/s``)."""
    return UNITS.get(metric or "", metric or "")


def higher_is_better(metric: str | None) -> bool:
    return unit_of(metric).endswith("/s")


def point_label(row: dict[str, Any]) -> str:
    """The x-axis label of a row in a chart: who ran it, on what."""
    if row.get("source") == "published":
        parts = (row.get("submitter"), row.get("system"), row.get("round"))
        return " ".join(str(p) for p in parts if p) or str(row.get("id"))
    label = str(row.get("run_id") or row.get("id"))
    return label if row.get("model") == row["benchmark"] else f"{label} ({row.get('model')})"


def chart_groups(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chart per MLPerf benchmark, scenario and metric, over rows that have a figure:
    local runs of a model (or its stand-in) beside the published results of its benchmark."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("value") is None or row.get("mode") not in (None, "performance"):
            continue
        key = (str(row["benchmark"]), str(row.get("scenario")), str(row.get("metric") or ""))
        groups.setdefault(key, []).append(row)
    charts = []
    for (model, scenario, metric), members in sorted(groups.items()):
        points = [
            {
                "key": row["key"],
                "label": point_label(row),
                "value": row["value"],
                "source": row["source"],
                "backend": row.get("backend"),
                "device": row.get("device"),
                "verdict": row["verdict"],
                "page": row["page"],
            }
            for row in sorted(members, key=lambda r: (r["source"], str(r.get("started") or "")))
        ]
        charts.append(
            {
                "model": model,
                "scenario": scenario,
                "metric": metric,
                "unit": unit_of(metric),
                "higher_is_better": higher_is_better(metric),
                "points": points,
            }
        )
    return charts


def sweep_objectives(
    metric: str | None, rows: Sequence[dict[str, Any]] = ()
) -> dict[str, Direction]:
    """What a sweep trades off: its figure (throughput or latency) against tail latency;
    token sweeps with TPOT: system tokens/s against tokens/s per user (the serving curve)."""
    if metric == "tokens_per_second" and any(r.get("tokens_per_user") for r in rows):
        return {"value": "max", "tokens_per_user": "max"}
    return {"value": "max" if higher_is_better(metric) else "min", "p99_ms": "min"}


def sweep_plots(
    rows: Sequence[dict[str, Any]], sweeps: Sequence[str], pareto: ParetoFn
) -> list[dict[str, Any]]:
    """Per sweep (and scenario, for a sweep that spans several): its points and front."""
    plots = []
    for name in sweeps:
        members = [
            r
            for r in rows
            if r["tags"].get("sweep") == name
            and r.get("value") is not None
            and r.get("mode") in (None, "performance")
        ]
        by_part: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for row in members:
            part = (str(row.get("model")), str(row.get("scenario")), str(row.get("metric") or ""))
            by_part.setdefault(part, []).append(row)
        for (model, scenario, metric), part_rows in sorted(by_part.items()):
            objectives = sweep_objectives(metric, part_rows)
            usable = [r for r in part_rows if all(r.get(k) is not None for k in objectives)]
            points = [
                {
                    "key": r["key"],
                    "point": r["tags"].get("point") or r.get("run_id"),
                    "value": r["value"],
                    "p99_ms": r.get("p99_ms"),
                    "tokens_per_user": r.get("tokens_per_user"),
                    "ttft_p99_ms": r.get("ttft_p99_ms"),
                    "tpot_p99_ms": r.get("tpot_p99_ms"),
                    "accuracy": r.get("accuracy"),
                    "backend": r.get("backend"),
                    "verdict": r["verdict"],
                    "page": r["page"],
                }
                for r in usable
            ]
            front = pareto(points, objectives) if points else []
            plots.append(
                {
                    "sweep": name,
                    "model": model,
                    "scenario": scenario,
                    "unit": unit_of(metric),
                    "objectives": objectives,
                    # named, not implied by key order (the JSON's keys are sorted): the
                    # latency-throughput curve, or tokens/s over tokens/s per user
                    "axes": (
                        {"x": "tokens_per_user", "y": "value"}
                        if "tokens_per_user" in objectives
                        else {"x": "value", "y": "p99_ms"}
                    ),
                    "points": points,
                    "front": sorted(p["key"] for p in front),
                }
            )
    return plots


def site_data(
    rows: Sequence[dict[str, Any]],
    sweeps: Sequence[str],
    pareto: ParetoFn,
    pages: dict[str, str],
    generated: str,
) -> dict[str, Any]:
    """Everything the index page shows, as one JSON document."""
    table = []
    for row in rows:
        key = row_key(row)
        entry = table_row(row, pages[key])
        entry["key"] = key
        table.append(entry)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": generated,
        "counts": {
            "rows": len(table),
            "local": sum(1 for r in table if r["source"] != "published"),
            "published": sum(1 for r in table if r["source"] == "published"),
        },
        "rows": table,
        "charts": chart_groups(table),
        "sweeps": sweep_plots(table, sweeps, pareto),
    }
