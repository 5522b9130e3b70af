"""HTML of the dashboard: the index shell and one page per run. Every value is escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perfpilot import __version__


@dataclass(frozen=True)
class LogLink:
    """A file of a run: where the run page links to, and whether it is a copy."""

    name: str
    href: str
    size: int
    copied: bool


def esc(value: Any) -> str:
    """Text of a value, escaped for HTML text and attribute values."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value), quote=True)


def _head(title: str, prefix: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n"
        f'<link rel="stylesheet" href="{prefix}style.css">\n</head>\n'
    )


def index_html(data_json: str, title: str) -> str:
    """The index page: an empty shell that app.js fills from the embedded data."""
    return (
        _head(title, "")
        + "<body>\n<header>\n"
        + f"<h1>{esc(title)}</h1>\n"
        + '<p id="summary" class="muted"></p>\n</header>\n<main>\n'
        + '<section id="results">\n<h2>Results</h2>\n'
        + '<div id="filters" class="filters"></div>\n'
        + '<p id="row-count" class="muted"></p>\n'
        + '<div class="scroll"><table id="results-table"><thead></thead><tbody></tbody>'
        + "</table></div>\n</section>\n"
        + '<section id="charts">\n<h2>By model and scenario</h2>\n'
        + '<p class="muted">Circles: your runs. Diamonds: published results.</p>\n'
        + '<div id="chart-list"></div>\n</section>\n'
        + '<section id="sweeps">\n<h2>Sweeps</h2>\n<div id="sweep-list"></div>\n</section>\n'
        + "</main>\n"
        + f'<footer class="muted">perfpilot {esc(__version__)}; data: '
        + '<a href="data.json">data.json</a></footer>\n'
        + '<script type="application/json" id="perfpilot-data">'
        + data_json
        + "</script>\n"
        + '<script src="plotly.min.js"></script>\n<script src="app.js"></script>\n'
        + "</body>\n</html>\n"
    )


def _value_html(value: Any) -> str:
    if isinstance(value, dict):
        return kv_table(value) if value else "-"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return esc(" ".join(str(v) for v in value)) if value else "-"
        return "<ol>" + "".join(f"<li>{_value_html(v)}</li>" for v in value) + "</ol>"
    return esc(value)


def kv_table(mapping: dict[str, Any]) -> str:
    """A two-column table of a mapping; nested mappings become nested tables."""
    rows = "".join(
        f"<tr><th>{esc(key)}</th><td>{_value_html(value)}</td></tr>"
        for key, value in mapping.items()
    )
    return f'<table class="kv">{rows}</table>'


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{esc(title)}</h2>\n{body}\n</section>\n"


def run_html(
    row: dict[str, Any],
    record: dict[str, Any] | None,
    logs: Sequence[LogLink],
    logs_note: str | None,
    json_name: str,
) -> str:
    """One run's page: headline figures, config, provenance, hashes and its log files."""
    title = str(row.get("run_id") or row.get("id"))
    headline = {
        k: row.get(k)
        for k in (
            "source",
            "model",
            "scenario",
            "mode",
            "backend",
            "device",
            "system",
            "submitter",
            "division",
            "round",
            "status",
            "verdict",
            "metric",
            "value",
            "unit",
            "accuracy",
            "p90_ms",
            "p99_ms",
            "ttft_p99_ms",
            "tpot_p99_ms",
            "standin",
            "started",
            "tags",
        )
        if row.get(k) not in (None, {}, "")
    }
    parts = [_section("Result", kv_table(headline))]
    if record is not None:
        for key, title_text in (
            ("config", "Resolved config"),
            ("loadgen_settings", "LoadGen settings"),
            ("calibration", "Calibration"),
        ):
            if record.get(key):
                parts.append(_section(title_text, kv_table(record[key])))
        artifacts = {k: record[k] for k in ("model", "dataset") if record.get(k)}
        if artifacts:
            parts.append(_section("Model and dataset", kv_table(artifacts)))
        provenance = record.get("provenance") or {}
        if provenance.get("software"):
            parts.append(_section("Software versions", kv_table(provenance["software"])))
        if provenance.get("system"):
            parts.append(_section("System", kv_table(provenance["system"])))
        others = {k: v for k, v in provenance.items() if k not in ("software", "system")}
        if others:
            parts.append(_section("Provenance", kv_table(others)))
        if record.get("result"):
            parts.append(_section("LoadGen result", kv_table(record["result"])))
        if record.get("accuracy"):
            parts.append(_section("Accuracy", kv_table(record["accuracy"])))
        extra = {
            k: record.get(k)
            for k in ("run_id", "session_id", "started", "finished", "command", "error")
            if record.get(k) is not None
        }
        parts.append(_section("Run", kv_table(extra)))
    else:
        if row.get("config"):
            parts.append(_section("Config", kv_table(row["config"])))
        if row.get("provenance"):
            parts.append(_section("Provenance", kv_table(row["provenance"])))
    items = "".join(
        f'<li><a href="{esc(link.href)}">{esc(link.name)}</a> '
        f'<span class="muted">{link.size:,} bytes{"" if link.copied else ", linked"}</span></li>'
        for link in logs
    )
    body = f"<ul>{items}</ul>" if items else ""
    if logs_note:
        body += f'<p class="muted">{esc(logs_note)}</p>'
    parts.append(_section("Logs", body or '<p class="muted">no log files</p>'))
    return (
        _head(f"{title} - perfpilot", "../")
        + "<body>\n<header>\n"
        + '<p><a href="../index.html">&larr; all results</a> &middot; '
        + f'<a href="{esc(json_name)}">this run as JSON</a></p>\n'
        + f"<h1>{esc(title)}</h1>\n</header>\n<main>\n"
        + "".join(parts)
        + "</main>\n</body>\n</html>\n"
    )
