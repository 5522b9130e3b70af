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


@dataclass(frozen=True)
class ExtraPage:
    """A page another part of perfpilot adds to the site (a fleet report, say): written
    to ``pages/<name>.html`` and linked from the index's navigation. ``body`` is HTML that
    its maker has escaped (build it with :func:`esc` and :func:`kv_table`)."""

    name: str  # file stem: letters, digits, "-" and "_"
    title: str
    body: str


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


def _nav(extra: Sequence[ExtraPage], prefix: str) -> str:
    """The index's section links and added pages; below the index, a link back."""
    if prefix:
        items = [f'<a href="{prefix}index.html">all results</a>']
    else:
        sections = (("leaderboard", "Leaderboard"), ("charts", "Charts"), ("sweeps", "Sweeps"))
        items = [f'<a href="#{key}">{name}</a>' for key, name in sections]
        items.append('<a href="#results">All runs</a>')
    items += [
        f'<a href="{prefix}pages/{esc(page.name)}.html">{esc(page.title)}</a>' for page in extra
    ]
    return '<nav class="nav">' + " &middot; ".join(items) + "</nav>\n"


def index_html(data_json: str, title: str, extra: Sequence[ExtraPage] = ()) -> str:
    """The index page: an empty shell that app.js fills from the embedded data. The first
    screen is the leaderboard: the best result per model and scenario."""
    return (
        _head(title, "")
        + "<body>\n<header>\n"
        + f"<h1>{esc(title)}</h1>\n"
        + '<p id="summary" class="muted"></p>\n'
        + _nav(extra, "")
        + "</header>\n<main>\n"
        + '<section id="leaderboard">\n<h2>Best result per model and scenario</h2>\n'
        + '<p class="muted">The best VALID performance result of each model and scenario, '
        + "its accuracy (the model's accuracy runs, against the task's target), and how it "
        + "compares with the best imported published result of the same MLPerf benchmark "
        + "and scenario.</p>\n"
        + '<div class="scroll"><table id="leaderboard-table" class="board"><thead></thead>'
        + "<tbody></tbody></table></div>\n</section>\n"
        + '<section id="charts">\n<h2>Results by backend, system and date</h2>\n'
        + '<div id="chart-controls" class="filters"></div>\n'
        + '<div id="chart-list"></div>\n</section>\n'
        + '<section id="sweeps">\n<h2>Sweeps: Pareto fronts</h2>\n'
        + '<div id="sweep-list"></div>\n</section>\n'
        + '<section id="results">\n<h2>All runs</h2>\n'
        + '<div id="filters" class="filters"></div>\n'
        + '<p id="row-count" class="muted"></p>\n'
        + '<div class="scroll"><table id="results-table"><thead></thead><tbody></tbody>'
        + "</table></div>\n</section>\n"
        + "</main>\n"
        + f'<footer class="muted">perfpilot {esc(__version__)}; data: '
        + '<a href="data.json">data.json</a></footer>\n'
        + '<script type="application/json" id="perfpilot-data">'
        + data_json
        + "</script>\n"
        + '<script src="plotly.min.js"></script>\n<script src="app.js"></script>\n'
        + "</body>\n</html>\n"
    )


def extra_page_html(page: ExtraPage, site_title: str) -> str:
    """An added page (see :class:`ExtraPage`), in the site's style."""
    return (
        _head(f"{page.title} - {site_title}", "../")
        + "<body>\n<header>\n"
        + f"<h1>{esc(page.title)}</h1>\n"
        + _nav((), "../")
        + "</header>\n<main>\n"
        + page.body
        + "\n</main>\n</body>\n</html>\n"
    )


def _ms(ns: float) -> str:
    ms = ns / 1e6
    return f"{ms:,.3f} ms" if abs(ms) < 1000 else f"{ms:,.1f} ms"


def human(key: str, value: Any) -> tuple[str, Any]:
    """A record's key and value in the units people read: ``latency_ns`` {p50: 166077}
    -> ``latency`` {p50: "0.166 ms"}, ``peak_rss_bytes`` -> MiB, ``*_ms`` with "ms"."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key.endswith("_ns"):
        name = key[: -len("_ns")]
        if number:
            return name, _ms(value)
        if isinstance(value, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()
        ):
            return name, {k: _ms(v) for k, v in value.items()}
    if number and key.endswith("_bytes"):
        return key[: -len("_bytes")] + " (MiB)", f"{value / 2**20:,.1f} MiB"
    if number and key.endswith("_ms"):
        return key, f"{value:,.3f} ms" if isinstance(value, float) else f"{value:,} ms"
    if number and (key.endswith("_s") or key == "seconds"):
        return key, f"{value:,.3f} s" if isinstance(value, float) else f"{value:,} s"
    return key, value


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
    shown = (human(str(key), value) for key, value in mapping.items())
    rows = "".join(
        f"<tr><th>{esc(key)}</th><td>{_value_html(value)}</td></tr>" for key, value in shown
    )
    return f'<table class="kv">{rows}</table>'


def _section(title: str, body: str, level: int = 2) -> str:
    tag = f"h{level}"
    kind = "section" if level == 2 else "div"
    anchor = f' id="{esc(title.lower())}"' if level == 2 else ""
    return f"<{kind}{anchor}>\n<{tag}>{esc(title)}</{tag}>\n{body}\n</{kind}>\n"


def _figure_text(row: dict[str, Any]) -> str:
    value, unit = row.get("value"), row.get("unit") or ""
    if value is None:
        return "-"
    text = f"{value:,.1f} {unit}" if unit.endswith("/s") else f"{value:,.3f} {unit}"
    return text.strip()


def _headline(row: dict[str, Any]) -> str:
    """The run's outcome in figures with their names: result, verdict, accuracy."""
    cells = []
    if row.get("value") is not None:
        cells.append(
            ("result", _figure_text(row), row.get("metric_name") or row.get("metric") or "")
        )
    verdict = str(row.get("verdict") or "-")
    cells.append(("status", verdict, f"{row.get('scenario') or ''} {row.get('mode') or ''}"))
    if row.get("accuracy") is not None:
        target = row.get("accuracy_target")
        note = "not judged (stand-in)" if target is None else f"target {target:.3f}%"
        metric = row.get("accuracy_metric") or "accuracy"
        cells.append(("accuracy", f"{metric} {row['accuracy']:.3f}%", note))
    for key, name in (("p90_ms", "p90 latency"), ("p99_ms", "p99 latency")):
        if row.get(key) is not None:
            cells.append((name, f"{row[key]:,.3f} ms", "measured percentile"))
    for key, name in (("ttft_p99_ms", "TTFT p99"), ("tpot_p99_ms", "TPOT p99")):
        if row.get(key) is not None:
            cells.append((name, f"{row[key]:,.3f} ms", "token latency"))
    items = "".join(
        f'<div class="stat"><div class="stat-name">{esc(name)}</div>'
        f'<div class="stat-value verdict-{esc(value.lower().replace(" ", "-"))}">'
        f"{esc(value)}</div>"
        f'<div class="stat-note muted">{esc(note)}</div></div>'
        for name, value, note in cells
    )
    return f'<div class="stats">{items}</div>'


def _setup(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "source",
        "model",
        "benchmark",
        "scenario",
        "mode",
        "backend",
        "device",
        "system",
        "submitter",
        "division",
        "round",
        "standin",
        "started",
        "tags",
    )
    return {k: row.get(k) for k in keys if row.get(k) not in (None, {}, "")}


def run_html(
    row: dict[str, Any],
    record: dict[str, Any] | None,
    logs: Sequence[LogLink],
    logs_note: str | None,
    json_name: str,
) -> str:
    """One run's page in four groups: result (figures with their names and units, the
    parsed LoadGen result), settings (config, LoadGen settings, calibration), provenance
    (model and dataset, software, system, command) and logs."""
    title = str(row.get("run_id") or row.get("id"))
    result = [_headline(row), _section("Run", kv_table(_setup(row)), 3)]
    settings: list[str] = []
    provenance: list[str] = []
    if record is not None:
        if record.get("result"):
            result.append(_section("LoadGen result", kv_table(record["result"]), 3))
        if record.get("accuracy"):
            result.append(_section("Accuracy", kv_table(record["accuracy"]), 3))
        for key, title_text in (
            ("config", "Resolved config"),
            ("loadgen_settings", "LoadGen settings"),
            ("calibration", "Calibration"),
        ):
            if record.get(key):
                settings.append(_section(title_text, kv_table(record[key]), 3))
        artifacts = {k: record[k] for k in ("model", "dataset") if record.get(k)}
        if artifacts:
            provenance.append(_section("Model and dataset", kv_table(artifacts), 3))
        facts = record.get("provenance") or {}
        if facts.get("software"):
            provenance.append(_section("Software versions", kv_table(facts["software"]), 3))
        if facts.get("system"):
            provenance.append(_section("System", kv_table(facts["system"]), 3))
        others = {k: v for k, v in facts.items() if k not in ("software", "system")}
        if others:
            provenance.append(_section("Other", kv_table(others), 3))
        extra = {
            k: record.get(k)
            for k in (
                "run_id",
                "session_id",
                "started",
                "finished",
                "command",
                "peak_rss_bytes",
                "error",
            )
            if record.get(k) is not None
        }
        provenance.append(_section("Run", kv_table(extra), 3))
    else:
        if row.get("config"):
            settings.append(_section("Config", kv_table(row["config"]), 3))
        if row.get("provenance"):
            provenance.append(_section("Provenance", kv_table(row["provenance"]), 3))
    items = "".join(
        f'<li><a href="{esc(link.href)}">{esc(link.name)}</a> '
        f'<span class="muted">{_size(link.size)}{"" if link.copied else ", linked"}</span></li>'
        for link in logs
    )
    body = f"<ul>{items}</ul>" if items else ""
    if logs_note:
        body += f'<p class="muted">{esc(logs_note)}</p>'
    parts = [
        _section("Result", "".join(result)),
        _section("Settings", "".join(settings) or '<p class="muted">none recorded</p>'),
        _section("Provenance", "".join(provenance) or '<p class="muted">none recorded</p>'),
        _section("Logs", body or '<p class="muted">no log files</p>'),
    ]
    return (
        _head(f"{title} - perfpilot", "../")
        + "<body>\n<header>\n"
        + '<p><a href="../index.html">&larr; all results</a> &middot; '
        + f'<a href="{esc(json_name)}">this run as JSON</a></p>\n'
        + f"<h1>{esc(title)}</h1>\n"
        + '<nav class="nav"><a href="#result">Result</a> &middot; '
        + '<a href="#settings">Settings</a> &middot; <a href="#provenance">Provenance</a>'
        + ' &middot; <a href="#logs">Logs</a></nav>\n'
        + "</header>\n<main>\n"
        + "".join(parts)
        + "</main>\n</body>\n</html>\n"
    )


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 2**20:
        return f"{size / 1024:,.1f} KiB"
    return f"{size / 2**20:,.1f} MiB"
