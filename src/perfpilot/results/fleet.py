"""``fleet report NAME``: each node's figure side by side, the spread, the nodes more
than a threshold below the fleet's median, and what differs in their environments."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from perfpilot.errors import UsageError
from perfpilot.records import RunRecord
from perfpilot.results.reproduce import environment
from perfpilot.tasks import labels
from perfpilot.workspace import Workspace

#: Environment keys that differ from node to node by nature (not a finding).
_EXPECTED = {"system hostname"}


@dataclass
class NodeFigure:
    node: str
    run_id: str
    value: float | None
    valid: bool | None
    below_median_pct: float | None = None
    outlier: bool = False

    @property
    def vs_median(self) -> str:
        """``+5.0%``: how much better (+) or worse (-) than the median (``-`` unknown)."""
        if self.below_median_pct is None:
            return "-"
        return f"{round(-self.below_median_pct, 1) + 0.0:+.1f}%"  # + 0.0: never "-0.0"


@dataclass
class FleetTest:
    """One test (scenario x mode) across the fleet."""

    test: str
    unit: str | None
    nodes: list[NodeFigure]
    median: float | None
    spread_pct: float | None  # (max - min) / median
    metric: str | None = None  # the figure's name: "throughput", "top-1", ...
    lower_is_better: bool = False  # latencies: an outlier lies above the median

    @property
    def header(self) -> str:
        """``throughput (samples/s)``: the figure's name and unit, for a column."""
        return f"{self.metric or 'figure'} ({self.unit or '-'})"


@dataclass
class FleetReport:
    name: str
    threshold_pct: float
    tests: list[FleetTest]
    #: environment key -> node -> value, for keys whose values differ between nodes
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def outliers(self) -> list[str]:
        return sorted({f.node for t in self.tests for f in t.nodes if f.outlier})

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": self.name,
            "threshold_pct": self.threshold_pct,
            "outliers": self.outliers,
            "tests": [
                {
                    "test": t.test,
                    "metric": t.metric,
                    "unit": t.unit,
                    "median": t.median,
                    "spread_pct": t.spread_pct,
                    "nodes": [f.__dict__ for f in t.nodes],
                }
                for t in self.tests
            ],
            "differences": self.differences,
        }


def node_name(record: RunRecord) -> str:
    """The node a record ran on (``hostname/1a2b3c4d``), else its machine's hostname."""
    tag = record.tags.get("node")
    if tag:
        return tag
    return str((record.provenance.get("system") or {}).get("hostname") or "?")


def fleet_names(records: Sequence[RunRecord]) -> list[str]:
    """The fleets these records hold runs of."""
    return sorted({r.tags["fleet"] for r in records if r.tags.get("fleet")})


def _metric(record: RunRecord, unit: str | None) -> str | None:
    if record.mode == "accuracy":
        return (record.accuracy.metric if record.accuracy else None) or labels.accuracy_metric(
            record.config.get("model")
        )
    metric = labels.perf_metric(record.scenario, unit)
    return metric.short if metric else None


def _figure(record: RunRecord) -> tuple[float | None, str | None]:
    if record.mode == "accuracy":
        return (None, "%") if record.accuracy is None else (record.accuracy.value, "%")
    res = record.result
    if res is None:
        return None, None
    if res.metric is not None:
        return res.metric, res.metric_unit
    return None, res.metric_unit


def fleet_report(workspace: Workspace, name: str, threshold_pct: float = 10.0) -> FleetReport:
    """The report of fleet ``name`` from the workspace's run records (see
    :func:`report_of`); no such fleet there is bad input."""
    records = workspace.records()
    if not any(r.tags.get("fleet") == name and r.status == "ok" for r in records):
        known = fleet_names(records)
        raise UsageError(
            f"no runs recorded for fleet {name!r} in {workspace.root}",
            f"Fleets here: {', '.join(known)}." if known else "Run 'perfpilot fleet run'.",
        )
    return report_of(records, name, threshold_pct)


def report_of(records: Sequence[RunRecord], name: str, threshold_pct: float = 10.0) -> FleetReport:
    """The report of fleet ``name`` (``fleet report`` and the dashboard's fleet page):
    per test, each node's latest ok figure; a node is an outlier when more than
    ``threshold_pct`` below the median (streams, whose figure is a latency: above it)."""
    records = [r for r in records if r.tags.get("fleet") == name and r.status == "ok"]
    latest: dict[tuple[str, str], RunRecord] = {}
    for rec in records:  # oldest first: the latest run of a node wins
        latest[(f"{rec.scenario} {rec.mode}", node_name(rec))] = rec
    tests = []
    for test in sorted({t for t, _ in latest}):
        figures, unit, metric = [], None, None
        for (t, node), rec in sorted(latest.items()):
            if t != test:
                continue
            value, unit_here = _figure(rec)
            unit = unit or unit_here
            metric = metric or _metric(rec, unit_here)
            valid = rec.result.valid if rec.result is not None else None
            figures.append(NodeFigure(node, rec.run_id, value, valid))
        values = [f.value for f in figures if f.value is not None]
        median = statistics.median(values) if values else None
        spread = None
        lower_better = unit is not None and unit in ("ns", "ms", "s")
        if median:
            spread = round(100 * (max(values) - min(values)) / median, 2)
            for f in figures:
                if f.value is None:
                    continue
                gap = 100 * (median - f.value) / median
                f.below_median_pct = round(-gap if lower_better else gap, 2)
                f.outlier = f.below_median_pct > threshold_pct
        tests.append(FleetTest(test, unit, figures, median, spread, metric, lower_better))
    envs: dict[str, dict[str, Any]] = {}
    for (_, node), rec in sorted(latest.items()):
        envs.setdefault(node, environment(rec))
    differences: dict[str, dict[str, Any]] = {}
    for key in sorted({k for e in envs.values() for k in e}):
        if key in _EXPECTED:
            continue
        by_node = {node: env.get(key) for node, env in envs.items()}
        if len({repr(v) for v in by_node.values()}) > 1:
            differences[key] = by_node
    return FleetReport(name, threshold_pct, tests, differences)
