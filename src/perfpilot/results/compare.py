"""Rows side by side: per MLPerf benchmark and scenario, each figure against the best
published one (or, with none published, the best of the rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from perfpilot.results.record_rows import TOKEN_METRIC, benchmark_of


@dataclass
class CompareGroup:
    benchmark: str
    scenario: str
    metric: str | None
    reference: str | None  # id of the row others are measured against
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "scenario": self.scenario,
            "metric": self.metric,
            "reference": self.reference,
            "rows": self.rows,
        }


def _better(metric: str | None) -> int:
    """+1 when a higher figure is better (throughput), -1 when lower is (latency)."""
    return -1 if metric and metric.startswith("latency") else 1


def compare(rows: Sequence[dict[str, Any]]) -> list[CompareGroup]:
    """Group rows by (benchmark, scenario); add ``ratio`` to each row: how it stands to
    the reference (> 1: better than the reference; throughput x/ref, latency ref/x)."""
    groups: dict[tuple[str, str], CompareGroup] = {}
    for row in rows:
        key = (benchmark_of(row), str(row["scenario"]))
        group = groups.setdefault(key, CompareGroup(key[0], key[1], None, None))
        group.rows.append(dict(row))
        group.metric = group.metric or row["metric"]
        if row["metric"] == TOKEN_METRIC:  # a token benchmark ranks by tokens/s, even
            group.metric = TOKEN_METRIC  # beside rows indexed before it counted tokens
    for group in groups.values():
        sign = _better(group.metric)
        scored = [r for r in group.rows if r["value"] is not None and r["metric"] == group.metric]
        published = [r for r in scored if r["source"] == "published" and r["valid"] is not False]
        pool = published or scored
        ref = max(pool, key=lambda r: sign * float(r["value"])) if pool else None
        group.reference = ref["id"] if ref else None
        for r in group.rows:
            ratio = None
            if ref is not None and r in scored and r["value"] and ref["value"]:
                ratio = (
                    float(r["value"]) / float(ref["value"])
                    if sign > 0
                    else float(ref["value"]) / float(r["value"])
                )
            r["ratio"] = ratio
        group.rows.sort(
            key=lambda r: (
                r["source"] != "published",
                r["value"] is None,
                -sign * float(r["value"] or 0.0),
                r["started"] or "",
            )
        )
    return sorted(groups.values(), key=lambda g: (g.benchmark, g.scenario))
