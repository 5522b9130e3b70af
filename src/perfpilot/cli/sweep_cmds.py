"""``perfpilot sweep run FILE`` and ``perfpilot sweep report NAME``."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.options import format_options, json_option
from perfpilot.cli.render import console


@click.group()
def sweep() -> None:
    """Design-space sweeps: run a grid of settings, report the Pareto front."""


@sweep.command("run")
@click.argument("file", type=click.Path(path_type=Path))
@json_option("Print each point's runs as JSON (progress stays on stderr).")
@click.pass_obj
def sweep_run(ctx: Context, file: Path, as_json: bool) -> int:
    """Run every point of a sweep file not already finished (a rerun resumes)."""
    from perfpilot.results.db import index_record
    from perfpilot.tune.sweep import load_sweep, run_sweep
    from perfpilot.workspace import Workspace

    spec = load_sweep(file)  # every point checked before anything runs
    workspace = Workspace.resolve(ctx.workspace, on_record=index_record)
    err = console(stderr=True)
    err.print(f"sweep {spec.name}: {len(spec.points)} points", highlight=False)

    def on_point(index: int, total: int, outcome: Any) -> None:
        what = "done before, skipped" if outcome.skipped else _figures(outcome.records)
        err.print(
            f"  [{index}/{total}] {outcome.point.point_id} {outcome.point.label()}: {what}",
            highlight=False,
        )

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # the runner stops the child and records it as interrupted

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        result = run_sweep(spec, workspace, ["perfpilot", *sys.argv[1:]], on_point=on_point)
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [r for o in result.outcomes for r in o.records if r.status != "ok"]
    if as_json:
        data = {
            "sweep": spec.name,
            "ran": result.ran,
            "skipped": result.skipped,
            "points": [
                {
                    "point": o.point.point_id,
                    "label": o.point.label(),
                    "skipped": o.skipped,
                    "runs": [r.run_id for r in o.records],
                }
                for o in result.outcomes
            ],
        }
        click.echo(json.dumps(data, indent=2))
    err.print(
        f"sweep {spec.name}: {result.ran} points run, {result.skipped} skipped"
        + (f", {len(failed)} runs failed" if failed else "")
        + f"; see 'perfpilot sweep report {spec.name}'",
        highlight=False,
    )
    return EXIT_FAILED if failed else EXIT_OK


def _figures(records: Any) -> str:
    parts = []
    for r in records:
        if r.status != "ok":
            parts.append(f"{r.status}: {r.error}")
        elif r.result is not None and r.result.metric is not None:
            parts.append(f"{r.result.metric:.1f} {r.result.metric_unit}")
        elif r.accuracy is not None:
            parts.append(f"{r.accuracy.value:.3f}%")
    return ", ".join(parts) or "done"


@sweep.command("report")
@click.argument("name")
@click.option(
    "--objectives",
    help="Comma-separated NAME[:max|min]: throughput, p50, p90, p99, accuracy, memory, "
    "tokens, tokens_per_user, ttft_p99, tpot_p99 [default: throughput:max,p99:min; token "
    "sweeps with TPOT: tokens_per_user:max,tokens:max].",
)
@click.option(
    "--plot", type=click.Path(path_type=Path), help="Save a plot: FILE.html (plotly) or FILE.png."
)
@format_options()
@click.pass_obj
def sweep_report(
    ctx: Context, name: str, objectives: str | None, plot: Path | None, fmt: str
) -> None:
    """Table of a sweep's points with the Pareto-optimal ones marked."""
    from perfpilot.tune.pareto import parse_objectives
    from perfpilot.tune.sweep import (
        OBJECTIVES,
        TOKEN_COLUMNS,
        default_objectives,
        report,
        write_plot,
    )
    from perfpilot.workspace import Workspace

    given = None if objectives is None else parse_objectives(objectives, OBJECTIVES)  # type: ignore[arg-type]
    if plot is not None and plot.suffix.lower() not in (".html", ".png"):
        from perfpilot.errors import UsageError

        raise UsageError(f"cannot write a plot to {plot}", "Give --plot FILE.html or FILE.png.")
    rows, varied = report(
        Workspace.resolve(ctx.workspace), name, None if given is None else dict(given)
    )
    chosen = given or parse_objectives(default_objectives(rows), OBJECTIVES)  # type: ignore[arg-type]
    if plot is not None:
        write_plot(rows, dict(chosen), plot, f"sweep {name}: Pareto front")
    if fmt == "json":
        click.echo(json.dumps({"sweep": name, "objectives": chosen, "points": rows}, indent=2))
        return
    if fmt == "csv":
        import csv
        import io

        flat = [
            {
                "point": r["point"],
                "pareto": r["pareto"],
                **{k: r["options"].get(k) for k in varied},
                **{k: v for k, v in r.items() if k not in ("point", "pareto", "options")},
            }
            for r in rows
        ]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(flat[0]) if flat else ["point"])
        writer.writeheader()
        writer.writerows(
            {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in f.items()}
            for f in flat
        )
        click.echo(text.getvalue(), nl=False)
        return
    table = Table(header_style="bold", title=f"sweep {name}")
    cols = ["pareto", "point", *varied, "valid", *chosen]
    shown = ["throughput", "p99", "memory"]
    if any(r.get("tokens") is not None for r in rows):  # token sweeps: the serving figures
        shown += TOKEN_COLUMNS
    extra = [c for c in shown if c not in chosen]
    for col in [*cols, *extra]:
        table.add_column(col, overflow="fold")
    for row in sorted(rows, key=lambda r: (not r["pareto"], r["point"])):
        cells = ["*" if row["pareto"] else "", row["point"]]
        cells += [str(row["options"].get(k)) for k in varied]
        cells.append("-" if row["valid"] is None else ("VALID" if row["valid"] else "INVALID"))
        cells += [_num(row.get(c)) for c in [*chosen, *extra]]
        table.add_row(*cells)
    out = console()
    out.print(table)
    front = [r for r in rows if r["pareto"]]
    out.print(
        f"Pareto-optimal over {', '.join(f'{k}:{v}' for k, v in chosen.items())}: "
        + "; ".join(
            f"{r['point']} ({' '.join(f'{k}={v}' for k, v in r['options'].items())})" for r in front
        ),
        highlight=False,
    )
    if plot is not None:
        out.print(f"plot saved: {plot}", highlight=False)


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)
