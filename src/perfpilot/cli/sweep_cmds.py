"""``perfpilot sweep run FILE`` and ``perfpilot sweep report NAME``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.fleet_cmds import cluster_option, progress_printer
from perfpilot.cli.options import OutPath, format_options, json_option
from perfpilot.cli.render import console


@click.group()
def sweep() -> None:
    """Design-space sweeps: run a grid of settings, report the Pareto front."""


@sweep.command("run")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--max-points",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    help="Refuse a sweep of more points than this (0: no limit).",
)
@cluster_option("the points (one node each, as many at once as there are nodes)")
@json_option("Print each point's runs as JSON (progress stays on stderr).")
@click.pass_obj
def sweep_run(ctx: Context, file: Path, max_points: int, cluster: str | None, as_json: bool) -> int:
    """Run every point of a sweep file not already finished (a rerun resumes)."""
    from perfpilot.results.db import indexer
    from perfpilot.tune.sweep import load_sweep, run_sweep
    from perfpilot.workspace import Workspace

    spec = load_sweep(file, max_points)  # every point checked before anything runs
    workspace = Workspace.resolve(ctx.workspace, on_record=indexer(ctx.db))
    err = console(stderr=True)
    if not cluster:  # on a cluster: once it answered (a wrong address is one line)
        err.print(f"sweep {spec.name}: {len(spec.points)} points", highlight=False)

    def on_point(index: int, total: int, outcome: Any) -> None:
        what = "done before, skipped" if outcome.skipped else _figures(outcome.records)
        if not outcome.skipped and not outcome.records:
            what = "no result (its trial failed on the cluster; 'sweep run' again retries it)"
        err.print(
            f"  [{index}/{total}] {outcome.point.point_id} {outcome.point.label()}: {what}",
            highlight=False,
        )

    # SIGTERM and SIGHUP stop a sweep as Ctrl-C does (perfpilot.interrupts, in main)
    command = ["perfpilot", *sys.argv[1:]]
    if cluster:
        result = _on_cluster(spec, workspace, cluster, command, on_point)
    else:
        result = run_sweep(spec, workspace, command, on_point=on_point)
    failed: list[Any] = [r for o in result.outcomes for r in o.records if r.status != "ok"]
    failed += [o for o in result.outcomes if not o.records]  # a trial that brought nothing
    for point_id, why in result.errors.items():
        err.print(f"  point {point_id}: {why}", highlight=False)
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


def _on_cluster(spec: Any, workspace: Any, address: str, command: list[str], on_point: Any) -> Any:
    from perfpilot.cluster.nodes import check_nodes, perfpilot_nodes
    from perfpilot.cluster.session import connect
    from perfpilot.cluster.sweep import run_sweep_on_cluster

    err = console(stderr=True)
    with connect(address) as session:
        nodes = perfpilot_nodes(address)
        answered = check_nodes(nodes, sorted({c.backend for p in spec.points for c in p.configs()}))
        nodes = [n for n in nodes if n.node_id in answered]
        err.print(
            f"sweep {spec.name}: {len(spec.points)} points on {len(nodes)} node(s) of the Ray "
            f"cluster at {address}",
            highlight=False,
        )
        return run_sweep_on_cluster(
            spec, workspace, session, command, on_point, progress_printer(err)
        )


def _figures(records: Any) -> str:
    from perfpilot.tasks.labels import accuracy_text, figure_text

    parts = []
    for r in records:
        if r.status != "ok":
            parts.append(f"{r.status}: {r.error}")
        elif r.result is not None and r.result.metric is not None:
            parts.append(figure_text(r.result.metric, r.scenario, r.result.metric_unit))
        elif r.accuracy is not None:
            parts.append(accuracy_text(r.accuracy.value, r.accuracy.metric))
    return ", ".join(parts) or "done"


@sweep.command("report")
@click.argument("name")
@click.option(
    "--objectives",
    help="Comma-separated NAME[:max|min]: throughput, p50, p90, p99, accuracy, memory, "
    "tokens, tokens_per_user, ttft_p99, tpot_p99 [default: throughput:max,p99:min; token "
    "sweeps with TPOT: tokens_per_user:max,tokens:max].",
)
@click.option("--plot", type=OutPath(), help="Save a plot: FILE.html (plotly) or FILE.png.")
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
        table.add_column(_header(col, rows[0]["config"].get("model")), overflow="fold")
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


def _header(column: str, model: object) -> str:
    """A column's name with its unit: ``p99 (ms)``, ``accuracy (top-1 %)``."""
    from perfpilot.tasks.labels import SWEEP_UNITS, accuracy_metric

    unit = SWEEP_UNITS.get(column)
    if column == "accuracy":
        unit = f"{accuracy_metric(str(model)) or 'accuracy'} %"
    return f"{column} ({unit})" if unit else column


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)
