"""``perfpilot dashboard build`` and ``perfpilot dashboard serve``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from perfpilot.cli.context import Context
from perfpilot.cli.options import OutPath

OUT_HELP = "Dashboard folder (default: <workspace>/dashboard)."


@click.group()
def dashboard() -> None:
    """Static HTML dashboard of the results (works offline, no server needed)."""


@dashboard.command("build")
@click.option("--out", type=OutPath(folder=True), metavar="DIR", help=OUT_HELP)
@click.option(
    "--db",
    metavar="FILE|URL",
    help="Results database to show alone (default: the global --db or the workspace's, "
    "with the workspace's runs it lacks).",
)
@click.option(
    "--fleet-threshold", default=10.0, show_default=True, type=click.FloatRange(min=0.0),
    metavar="PCT", help="On the fleet pages, an outlier is a node more than PCT percent "
    "below the fleet's median (as 'fleet report --threshold').",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print what was built as JSON.")
@click.pass_obj
def dashboard_build(
    ctx: Context, out: Path | None, db: str | None, fleet_threshold: float, as_json: bool
) -> None:
    """Write index.html, run pages, fleet pages, data.json and plotly.min.js into a folder."""
    from perfpilot.dashboard.build import build_dashboard
    from perfpilot.workspace import Workspace

    report = build_dashboard(
        Workspace.resolve(ctx.workspace), out=out, db=db, home=ctx.db,
        fleet_threshold=fleet_threshold,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps({**asdict(report), "out": str(report.out)}, indent=2))
        return
    click.echo(
        f"dashboard: {report.local} local run(s), {report.published} published result(s), "
        f"{report.charts} chart(s), {report.sweeps} sweep plot(s)"
        + (f", {len(report.pages)} fleet page(s)" if report.pages else "")
    )
    click.echo(f"open {report.out / 'index.html'}  (or: perfpilot dashboard serve)")
    for line in report.skipped:  # links are never followed out of a run folder
        click.echo(f"perfpilot: skipped {line}", err=True)


@dashboard.command("serve")
@click.option("--out", type=OutPath(folder=True), metavar="DIR", help=OUT_HELP)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.pass_obj
def dashboard_serve(ctx: Context, out: Path | None, port: int) -> None:
    """Serve the built dashboard on localhost until Ctrl-C."""
    from perfpilot.dashboard.build import DEFAULT_DIR
    from perfpilot.dashboard.serve import make_server, url_of
    from perfpilot.workspace import Workspace

    folder = out if out is not None else Workspace.resolve(ctx.workspace).root / DEFAULT_DIR
    server = make_server(folder.absolute(), port)
    click.echo(f"serving {folder} at {url_of(server)}  (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
