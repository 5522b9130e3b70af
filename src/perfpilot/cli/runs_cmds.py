"""``perfpilot runs list`` and ``perfpilot runs show``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.table import Table

from perfpilot.cli.context import Context
from perfpilot.cli.render import (
    accuracy_text,
    console,
    metric_text,
    print_table,
    records_json,
    token_text,
    validity_text,
)

if TYPE_CHECKING:
    from perfpilot.workspace import Workspace


def open_workspace(ctx: Context) -> Workspace:
    """The workspace, with the runs a killed perfpilot left unrecorded now recorded and
    each unreadable run.json named (on stderr)."""
    from perfpilot.engine.recover import recover_runs
    from perfpilot.results.db import indexer
    from perfpilot.workspace import Workspace

    workspace = Workspace.resolve(ctx.workspace, on_record=indexer(ctx.db))
    for done in recover_runs(workspace):
        click.echo(f"perfpilot: {done.note}", err=True)
    for run_dir in workspace.unrecorded(pending=False):
        click.echo(
            f"perfpilot: warning: {run_dir} holds no run record and nothing to recover one "
            "from (its perfpilot process was killed while setting it up, or predates "
            "run.pending.json)",
            err=True,
        )
    for path, why in workspace.scan()[1]:
        click.echo(
            f"perfpilot: warning: {path} is not a readable run record ({why}); its run is left out",
            err=True,
        )
    return workspace


@click.group()
def runs() -> None:
    """Runs recorded in the workspace."""


@runs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the run records as JSON.")
@click.pass_obj
def runs_list(ctx: Context, as_json: bool) -> None:
    """List recorded runs, oldest first."""
    records = open_workspace(ctx).records()
    if as_json:
        click.echo(records_json(records))
        return
    if not records:
        click.echo("no runs yet: try 'perfpilot run'")
        return
    table = Table(header_style="bold")
    for col in (
        "run id",
        "started",
        "model",
        "backend",
        "scenario",
        "mode",
        "result",
        "metric",
        "accuracy",
    ):
        table.add_column(col, overflow="fold")
    for r in records:
        acc = accuracy_text(r.accuracy) if r.accuracy else "-"
        table.add_row(
            r.run_id,
            r.started,
            r.model_label,
            r.config["backend"],
            r.scenario,
            r.mode,
            validity_text(r),
            metric_text(r),
            acc,
        )
    console().print(table)


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
@click.pass_obj
def runs_show(ctx: Context, run_id: str, as_json: bool) -> None:
    """Show one run: result, settings and provenance."""
    record = open_workspace(ctx).load(run_id)
    if as_json:
        click.echo(record.model_dump_json(indent=2))
        return
    out = console()
    print_table(out, [record], title=record.run_id)
    cfg = record.config
    out.print(
        f"model: {record.model_label} ({record.model.sha256 or 'no file'})"
        + (f" [your file, for {record.model.name}'s task]" if record.model.substituted else ""),
        highlight=False,
    )
    out.print(f"dataset: {record.dataset.name} ({record.dataset.sha256})", highlight=False)
    out.print(
        f"backend: {cfg['backend']} on {cfg['device']}, batch {cfg['batch_size']}, "
        f"{cfg['threads']} worker(s) x {cfg['backend_threads']} runtime thread(s), "
        f"execution {cfg['execution']}",
        highlight=False,
    )
    if record.loadgen_settings:
        shown = {k: v for k, v in record.loadgen_settings.items() if v is not None}
        out.print(f"LoadGen settings: {shown}", highlight=False)
    sw = record.provenance.get("software", {})
    sysinfo = record.provenance.get("system", {})
    out.print(f"software: {sw}", highlight=False)
    out.print(
        f"system: {sysinfo.get('cpu_model')}, {sysinfo.get('cpu_count')} cores, "
        f"{sysinfo.get('os')}",
        highlight=False,
    )
    tokens = token_text(record)
    if tokens:
        out.print(tokens, highlight=False)
    if record.result and record.result.invalid_reasons:
        out.print(f"INVALID because: {'; '.join(record.result.invalid_reasons)}")
    out.print(
        f"started {record.started}, finished {record.finished}; "
        f"command: {' '.join(record.command)}",
        highlight=False,
    )
