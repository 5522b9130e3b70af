"""Rendering records for people (rich tables) and machines (JSON)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from perfpilot.records import AccuracyRecord, RunRecord
from perfpilot.tasks import labels

if TYPE_CHECKING:
    from perfpilot.engine.live import LiveStats


def short_path(path: str) -> str:
    """A run directory relative to the current folder when it lies below it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def console(stderr: bool = False) -> Console:
    """A console that does not squeeze tables when output goes to a file or pipe."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=200)


def _ms(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.3f}"


def metric_text(record: RunRecord) -> str:
    res = record.result
    if res is None or res.metric is None:
        return "-"
    # the stream scenarios' figure is an early-stopping estimate: say which, beside p99
    return labels.figure_text(res.metric, record.scenario, res.metric_unit)


def accuracy_text(accuracy: AccuracyRecord) -> str:
    """``top-1 98.438%``: the figure with its metric's name."""
    return labels.accuracy_text(accuracy.value, accuracy.metric)


def live_text(live: LiveStats) -> str:
    """A test's figures so far: ``1,200 / 5,000 samples, 2,430 samples/s`` (the total
    where known: accuracy tests), and a token run's ``52,000 tokens/s, TTFT p99 812 ms,
    TPOT p99 41 ms`` (the latencies where first tokens are timed: not in Offline)."""
    done = f"{live.samples:,} / {live.total:,}" if live.total else f"{live.samples:,}"
    parts = [f"{done} samples"]
    if live.samples_per_s is not None:
        rate = live.samples_per_s
        parts.append(f"{rate:,.0f} samples/s" if rate >= 100 else f"{rate:.3g} samples/s")
    if live.tokens_per_s is not None:
        parts.append(f"{live.tokens_per_s:,.0f} tokens/s")
    for name, value in (("TTFT", live.ttft_p99_ms), ("TPOT", live.tpot_p99_ms)):
        if value is not None:
            parts.append(
                f"{name} p99 {value:,.0f} ms" if value >= 10 else f"{name} p99 {value:.2g} ms"
            )
    return ", ".join(parts)


def token_text(record: RunRecord) -> str:
    """A token run's figures beyond its tokens/s: samples/s, and TTFT and TPOT
    percentiles where LoadGen logged them (Server, Interactive); empty for other runs."""
    res = record.result
    if res is None or res.metric_unit != "tokens/s":
        return ""
    parts = []
    if res.samples_per_second is not None:
        parts.append(f"{res.samples_per_second:,.1f} samples/s")
    for name, found in (("TTFT", res.ttft_ns), ("TPOT", res.tpot_ns)):
        if found:
            shown = ", ".join(f"{p} {_ms(found.get(p))}" for p in ("p50", "p90", "p99"))
            parts.append(f"{name} ms {shown}")
    return "tokens: " + "; ".join(parts) if parts else ""


def validity_text(record: RunRecord) -> str:
    if record.status != "ok":
        return f"[red]{record.status.upper()}[/red]"
    if record.mode == "accuracy":
        if record.accuracy is None:
            return "-"
        if record.accuracy.target is None:
            return "[yellow]NOT JUDGED (stand-in)[/yellow]"
        return "[green]PASS[/green]" if record.accuracy.passed else "[red]BELOW TARGET[/red]"
    if record.result is None or record.result.valid is None:
        return "-"
    return "[green]VALID[/green]" if record.result.valid else "[red]INVALID[/red]"


def results_table(records: Sequence[RunRecord], title: str | None = None) -> Table:
    """The end-of-run table: one row per LoadGen test; token runs (LLMs) add their p99
    time to first token and time per output token."""
    tokens = any(r.result is not None and r.result.ttft_ns for r in records)
    table = Table(title=title, header_style="bold")
    columns = ["scenario", "mode", "validity", "result", "p50 ms", "p90 ms", "p99 ms"]
    columns += ["TTFT p99 ms", "TPOT p99 ms"] if tokens else []
    for col in (*columns, "accuracy", "run directory"):
        table.add_column(col, justify="right" if col.endswith("ms") else "left", overflow="fold")
    for r in records:
        lat = r.result.latency_ns if r.result else {}
        acc = accuracy_text(r.accuracy) if r.accuracy else "-"
        row = [r.scenario, r.mode, validity_text(r), metric_text(r)]
        row += [_ms(lat.get(p)) for p in ("p50", "p90", "p99")]
        if tokens:
            row += [_ms((r.result.ttft_ns if r.result else {}).get("p99"))]
            row += [_ms((r.result.tpot_ns if r.result else {}).get("p99"))]
        table.add_row(*row, acc, short_path(r.run_dir))
    return table


def problems(records: Sequence[RunRecord]) -> list[str]:
    """One line per test that failed, was INVALID or missed its accuracy target."""
    lines = []
    for r in records:
        label = f"{r.scenario} {r.mode} ({r.run_id})"
        if r.status != "ok":
            lines.append(f"{label}: {r.status}: {r.error}")
        elif r.mode == "performance" and r.result is not None and not r.result.valid:
            lines.append(f"{label}: INVALID: {'; '.join(r.result.invalid_reasons) or 'see logs'}")
        elif r.accuracy is not None and not r.accuracy.passed:
            lines.append(
                f"{label}: {accuracy_text(r.accuracy)} is below the target {r.accuracy.target:.3f}%"
            )
    return lines


def records_json(records: Sequence[RunRecord]) -> str:
    data: list[Any] = [json.loads(r.model_dump_json()) for r in records]
    return json.dumps(data, indent=2)


def print_table(console: Console, records: Sequence[RunRecord], title: str | None = None) -> None:
    console.print(results_table(records, title))
    for line in problems(records):
        console.print(f"[red]x[/red] {line}", highlight=False)
