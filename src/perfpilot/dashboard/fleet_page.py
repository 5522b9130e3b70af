"""The dashboard's fleet pages: one per fleet, made from the same report as ``perfpilot
fleet report`` (``perfpilot.results.fleet``): every node's figure side by side, the
median and spread, the outliers marked, and what differs between the nodes' environments."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from perfpilot.dashboard.pages import ExtraPage, esc, human
from perfpilot.records import RunRecord
from perfpilot.results.fleet import FleetReport, FleetTest, fleet_names, report_of

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def page_name(fleet: str) -> str:
    """``fleet-NAME``; a name too long (or odd) for a file gets a short hash instead."""
    if _SAFE.fullmatch(fleet) and len(fleet) <= 60:
        return f"fleet-{fleet}"
    return f"fleet-{hashlib.sha256(fleet.encode()).hexdigest()[:12]}"


def fleet_pages(
    records: Sequence[RunRecord], threshold_pct: float, run_pages: Mapping[str, str]
) -> list[ExtraPage]:
    """A page per fleet in ``records``; ``run_pages``: run id -> its run page's stem, so
    that each node's figure links to its run."""
    return [
        fleet_page(report_of(records, name, threshold_pct), run_pages)
        for name in fleet_names(records)
    ]


def _number(test: FleetTest, value: float | None) -> str:
    if value is None:
        return "-"
    if test.lower_is_better or test.unit == "%":
        return f"{value:,.3f}"
    return f"{value:,.1f}"


def _with_unit(test: FleetTest, value: float | None) -> str:
    text = _number(test, value)
    return text if value is None or not test.unit else f"{text} {test.unit}"


def _stat(name: str, value: str, note: str) -> str:
    return (
        f'<div class="stat"><div class="stat-name">{esc(name)}</div>'
        f'<div class="stat-value">{esc(value)}</div>'
        f'<div class="stat-note muted">{esc(note)}</div></div>'
    )


def _test_html(test: FleetTest, report: FleetReport, run_pages: Mapping[str, str]) -> str:
    values = [f.value for f in test.nodes if f.value is not None]
    top = max(values) if values else 0.0
    stats = "".join(
        (
            _stat(f"median {test.metric or 'figure'}", _with_unit(test, test.median),
                  f"of {len(values)} node(s)"),
            _stat("spread", "-" if test.spread_pct is None else f"{test.spread_pct:.1f}%",
                  "(max - min) / median"),
            _stat("outliers", str(sum(f.outlier for f in test.nodes)),
                  f"> {report.threshold_pct:g}% "
                  + ("above" if test.lower_is_better else "below") + " the median"),
        )
    )  # fmt: skip
    head = "".join(
        f"<th>{esc(col)}</th>" for col in ("node", test.header, "", "vs median", "LoadGen", "run")
    )
    body = []
    for f in test.nodes:
        width = 0.0 if f.value is None or top <= 0 else 100 * f.value / top
        valid = "-" if f.valid is None else ("VALID" if f.valid else "INVALID")
        stem = run_pages.get(f.run_id)
        run = f'<a href="../runs/{esc(stem)}.html">{esc(f.run_id)}</a>' if stem else esc(f.run_id)
        mark = ' <span class="badge badge-outlier">OUTLIER</span>' if f.outlier else ""
        body.append(
            f'<tr class="{"outlier" if f.outlier else "node"}">'
            f'<td class="node">{esc(f.node)}{mark}</td>'
            f'<td class="num">{esc(_number(test, f.value))}</td>'
            f'<td class="bar"><div style="width:{width:.1f}%"></div></td>'
            f'<td class="num">{esc(f.vs_median)}</td>'
            f'<td class="verdict-{valid.lower()}">{esc(valid)}</td><td>{run}</td></tr>'
        )
    title = f"{test.test}: {test.metric or 'figure'}"
    return (
        f"<section>\n<h2>{esc(title)}</h2>\n"
        f'<div class="stats">{stats}</div>\n'
        f'<div class="scroll"><table class="board fleet-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>\n</section>\n"
    )


def _differences_html(differences: Mapping[str, Mapping[str, Any]]) -> str:
    if not differences:
        return '<p class="muted">No differences between the nodes\' environments.</p>'
    nodes = sorted({n for values in differences.values() for n in values})
    head = "".join(f"<th>{esc(col)}</th>" for col in ("", *nodes))
    rows = []
    for key, values in differences.items():
        shown = [human(key, values.get(n)) for n in nodes]
        name = shown[0][0] if shown else key
        cells = "".join(f"<td>{esc(value)}</td>" for _, value in shown)
        rows.append(f"<tr><th>{esc(name)}</th>{cells}</tr>")
    return (
        '<div class="scroll"><table class="board fleet-env">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def fleet_page(report: FleetReport, run_pages: Mapping[str, str]) -> ExtraPage:
    """The page of one fleet's report."""
    nodes = sorted({f.node for t in report.tests for f in t.nodes})
    outliers = ", ".join(report.outliers) or "none"
    intro = (
        f'<p class="muted">Runs tagged fleet={esc(report.name)} (perfpilot fleet run): each '
        f"node's latest figure per test, side by side. An outlier is a node more than "
        f"{report.threshold_pct:g}% below the fleet's median (for a latency: above it). "
        f"&ldquo;vs median&rdquo; is how much better (+) or worse (-) than the median a "
        f"node is. The same figures as "
        f"<code>perfpilot fleet report {esc(report.name)} --threshold "
        f"{report.threshold_pct:g}</code>.</p>\n"
        f'<p id="fleet-summary">{len(nodes)} node(s): {esc(", ".join(nodes))}. '
        f"Outliers: <strong>{esc(outliers)}</strong>.</p>\n"
    )
    tests = "".join(_test_html(t, report, run_pages) for t in report.tests)
    env = (
        "<section>\n<h2>Environment differences</h2>\n"
        '<p class="muted">What differs between the nodes (packages, CPU, memory, OS, '
        "model and dataset hashes, LoadGen), as <code>perfpilot reproduce</code> lists "
        "it; hostnames are left out.</p>\n"
        f"{_differences_html(report.differences)}\n</section>\n"
    )
    return ExtraPage(page_name(report.name), f"Fleet {report.name}", intro + tests + env)
