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

from perfpilot.results.record_rows import ROW_KEYS, benchmark_of
from perfpilot.tasks import labels
from perfpilot.tune.pareto import Direction

SCHEMA_VERSION = 2  # 2: leaderboard, metric and accuracy labels, chart point facets
# Backends that run no model (LoadGen's own overhead): charted apart, never "best".
NO_INFERENCE_BACKENDS = frozenset({"null"})

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
    """One word for a row's outcome: VALID, INVALID, FAILED...; accuracy runs PASS, FAIL
    (below the target) or NOT JUDGED (stand-ins and models without a target)."""
    status = str(row.get("status") or "")
    if status and status.lower() not in ("ok", "valid", "invalid", "published"):
        return status.upper()
    if row.get("mode") == "accuracy" and row.get("accuracy") is not None:
        passed = accuracy_passed(row)
        return "NOT JUDGED" if passed is None else ("PASS" if passed else "FAIL")
    if row.get("valid") is True:
        return "VALID"
    if row.get("valid") is False:
        return "INVALID"
    return status.upper() or "-"


def accuracy_target(row: dict[str, Any]) -> float | None:
    """The accuracy target of a row's model (percent), None where it is not judged."""
    if row.get("standin"):
        return None
    return labels.accuracy_target(row.get("model")) or labels.accuracy_target(benchmark_of(row))


def accuracy_passed(row: dict[str, Any]) -> bool | None:
    value, target = _finite(row.get("accuracy")), accuracy_target(row)
    return None if value is None or target is None else value >= target


def accuracy_metric(row: dict[str, Any]) -> str | None:
    """The name of a row's accuracy figure: its task's metric (``top-1``, ``F1``...)."""
    return labels.accuracy_metric(row.get("model")) or labels.accuracy_metric(benchmark_of(row))


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def table_row(row: dict[str, Any], page: str) -> dict[str, Any]:
    """What the index page knows of one row: its table fields, verdict, the names and
    units of its figures, and its run page."""
    out = {field: row.get(field) for field in TABLE_FIELDS}
    for field in ("value", "accuracy", "p90_ms", "p99_ms", "ttft_p99_ms", "tpot_p99_ms"):
        out[field] = _finite(out[field])
    out["tags"] = {str(k): str(v) for k, v in (row.get("tags") or {}).items()}
    out["source"] = row.get("source") or "local"
    out["verdict"] = verdict(row)
    out["unit"] = unit_of(row.get("metric")) or None
    metric = labels.perf_metric(row.get("scenario"), row.get("metric"))
    out["metric_label"] = metric.short if metric and out["value"] is not None else None
    out["metric_name"] = metric.name if metric and out["value"] is not None else None
    out["accuracy_metric"] = accuracy_metric(row) if out["accuracy"] is not None else None
    out["accuracy_target"] = accuracy_target(row) if out["accuracy"] is not None else None
    out["accuracy_passed"] = accuracy_passed(row)
    out["benchmark"] = benchmark_of(row)
    # a published result's round stands for its date
    out["date"] = str(row.get("started") or "")[:10] or row.get("round") or None
    out["no_inference"] = str(row.get("backend") or "") in NO_INFERENCE_BACKENDS
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
    return labels.unit_of(metric)


def higher_is_better(metric: str | None) -> bool:
    return unit_of(metric).endswith("/s")


def who(row: dict[str, Any]) -> str:
    """A published result's submitter, system and round; a local run's backend on device."""
    if row.get("source") == "published":
        parts = (row.get("submitter"), row.get("system"), row.get("round"))
        return " ".join(str(p) for p in parts if p) or str(row.get("id"))
    return f"{row.get('backend') or '?'} on {row.get('device') or '?'}"


def point_label(row: dict[str, Any]) -> str:
    """A chart point's name: who ran it, on what (never a bare run id)."""
    label = who(row)
    if row.get("source") != "published" and row.get("model") != row["benchmark"]:
        label += f" ({row.get('model')})"
    return label


def _better(metric: str | None) -> Callable[[float, float], bool]:
    if higher_is_better(metric):
        return lambda a, b: a > b
    return lambda a, b: a < b


def _best(rows: Iterable[dict[str, Any]], metric: str | None) -> dict[str, Any] | None:
    best: dict[str, Any] | None = None
    better = _better(metric)
    for row in rows:
        if row.get("value") is None or (row["value"] == 0 and not higher_is_better(metric)):
            continue  # a stream run too short for early stopping logs 0 ms
        if best is None or better(row["value"], best["value"]):
            best = row
    return best


def _brief(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    keys = ("key", "value", "backend", "device", "system", "date", "verdict", "page", "model")
    return {**{k: row.get(k) for k in keys}, "who": who(row)}


def leaderboard(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per local model and scenario: its best VALID result (runs of a backend
    that does no inference only when nothing else is valid), the latest verdict, the
    accuracy of the model's accuracy runs, the best per backend and system, and the best
    published figure of its MLPerf benchmark and scenario. Published results without a
    local run get an entry of their own."""
    perf = [r for r in rows if r.get("mode") in (None, "performance") and r.get("scenario")]
    local = [r for r in perf if r["source"] != "published"]
    published = [r for r in perf if r["source"] == "published"]
    accuracy = [r for r in rows if r.get("mode") == "accuracy" and r.get("accuracy") is not None]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in local:
        groups.setdefault((str(row.get("model")), str(row["scenario"])), []).append(row)
    covered = {(str(r["benchmark"]), str(r["scenario"])) for r in local}
    for row in published:
        if (str(row["benchmark"]), str(row["scenario"])) not in covered:
            groups.setdefault((str(row.get("model")), str(row["scenario"])), []).append(row)
    board = []
    for (model, scenario), members in sorted(groups.items()):
        benchmark = str(members[0]["benchmark"])
        metric = next((r.get("metric") for r in members if r.get("metric")), None)
        valid = [r for r in members if r["verdict"] == "VALID"]
        real = [r for r in valid if not r["no_inference"]]
        best = _best(real, metric) or _best(valid, metric)
        latest = max(members, key=lambda r: str(r.get("started") or ""))
        same = [
            r
            for r in published
            if str(r["benchmark"]) == benchmark
            and r.get("scenario") == scenario
            and unit_of(r.get("metric")) == unit_of(metric)
        ]
        top = _best([r for r in same if r["verdict"] == "VALID"] or same, metric)
        ratio = None
        if best is not None and top is not None and best["source"] != "published":
            if best["value"] and top["value"]:
                ratio = best["value"] / top["value"]
                ratio = ratio if higher_is_better(metric) else 1 / ratio
        label = labels.perf_metric(scenario, metric)
        per_setup: dict[str, list[dict[str, Any]]] = {}
        for row in valid:
            name = f"{row.get('backend') or '?'} on {row.get('system') or '?'}"
            per_setup.setdefault(name, []).append(row)
        others = []
        for name, setup in sorted(per_setup.items()):
            found = _best(setup, metric)
            if found is not None and (best is None or found["key"] != best["key"]):
                others.append({**(_brief(found) or {}), "name": name})
        board.append(
            {
                "model": model,
                "benchmark": benchmark,
                "scenario": scenario,
                "source": members[0]["source"],
                "metric": metric,
                "metric_label": label.short if label else metric,
                "metric_name": label.name if label else metric,
                "unit": unit_of(metric),
                "higher_is_better": higher_is_better(metric),
                "standin": any(bool(r.get("standin")) for r in members),
                "runs": len(members),
                "valid_runs": len(valid),
                "best": _brief(best),
                "best_no_inference": bool(best and best["no_inference"]),
                "latest_verdict": latest["verdict"],
                "accuracy": _brief_accuracy(model, scenario, best, accuracy),
                "published": _brief(top),
                "vs_published": None if ratio is None else round(ratio, 6),
                "others": others,
            }
        )
    return board


def _brief_accuracy(
    model: str,
    scenario: str,
    best: dict[str, Any] | None,
    accuracy: Sequence[dict[str, Any]],
) -> dict[str, Any] | None:
    """The accuracy figure to show beside a result: the latest accuracy run of the same
    model, preferring the same scenario and backend; a published result's own figure."""
    if best is not None and best["source"] == "published" and best.get("accuracy") is not None:
        chosen: dict[str, Any] | None = best
    else:
        mine = [r for r in accuracy if r.get("model") == model and r["source"] != "published"]
        backend = best.get("backend") if best else None

        def rank(r: dict[str, Any]) -> tuple[bool, bool, str]:
            same = r.get("scenario") == scenario
            return same, r.get("backend") == backend, str(r.get("started") or "")

        chosen = max(mine, key=rank) if mine else None
    if chosen is None:
        return None
    return {
        "value": chosen["accuracy"],
        "metric": chosen.get("accuracy_metric"),
        "target": chosen.get("accuracy_target"),
        "passed": chosen.get("accuracy_passed"),
        "scenario": chosen.get("scenario"),
        "backend": chosen.get("backend"),
        "page": chosen["page"],
    }


def chart_groups(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chart per MLPerf benchmark, scenario and metric, over rows that have a figure:
    local runs of a model (or its stand-in) beside the published results of its benchmark."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("value") is None or row.get("mode") not in (None, "performance"):
            continue
        if row["value"] == 0 and not higher_is_better(row.get("metric")):
            continue  # too few queries for early stopping: LoadGen logs 0 ms, no figure
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
                "system": row.get("system"),
                "date": row.get("date"),
                "started": row.get("started"),
                "model": row.get("model"),
                "standin": bool(row.get("standin")),
                "no_inference": row["no_inference"],
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
                "metric_label": _short(scenario, metric),
                "unit": unit_of(metric),
                "higher_is_better": higher_is_better(metric),
                "points": points,
            }
        )
    return charts


def _short(scenario: str, metric: str | None) -> str:
    label = labels.perf_metric(scenario, metric)
    return label.short if label else str(metric or "")


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
                    "metric_label": _short(scenario, metric),
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
        "leaderboard": leaderboard(table),
        "charts": chart_groups(table),
        "sweeps": sweep_plots(table, sweeps, pareto),
    }
