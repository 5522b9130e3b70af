"""``perfpilot reproduce RUN_ID``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.table import Table

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.options import json_option
from perfpilot.cli.render import console


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


@click.command()
@click.argument("run_id")
@json_option("Print the comparison as JSON.")
@click.pass_obj
def reproduce(ctx: Context, run_id: str, as_json: bool) -> int:
    """Re-run a recorded run from its resolved config; show old and new figures side by
    side and what differs in the environment."""
    from perfpilot.cli.run_cmd import _progress_printer
    from perfpilot.results.db import indexer
    from perfpilot.results.reproduce import reproduce as run_again
    from perfpilot.workspace import Workspace

    workspace = Workspace.resolve(ctx.workspace, on_record=indexer(ctx.db))
    rep = run_again(
        workspace,
        run_id,
        ["perfpilot", *sys.argv[1:]],
        progress=_progress_printer(console(stderr=True)),
    )
    code = EXIT_OK if rep.new.ok else EXIT_FAILED
    if as_json:
        click.echo(json.dumps(rep.as_dict(), indent=2, default=str))
        return code
    out = console()
    table = Table(
        title=f"{rep.original.run_id} reproduced as {rep.new.run_id}", header_style="bold"
    )
    for col in ("figure", "original", "reproduction", "difference"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for f in rep.figures:
        rel = f.relative
        table.add_row(f.name, _text(f.old), _text(f.new), "-" if rel is None else f"{rel:+.1%}")
    out.print(table, highlight=False)
    out.print(f"metric: {rep.noise.verdict}", highlight=False)
    if rep.new.error:
        out.print(f"the reproduction failed: {rep.new.error}", highlight=False)
    if not rep.differences:
        out.print("environment: no differences (packages, model and dataset, CPU, LoadGen)")
    else:
        env = Table(title="environment differences", header_style="bold")
        for col in ("what", "original", "reproduction"):
            env.add_column(col, overflow="fold")
        for d in rep.differences:
            env.add_row(d.what, _text(d.old), _text(d.new))
        out.print(env, highlight=False)
    return code
