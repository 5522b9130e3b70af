"""``perfpilot results list | show | compare | export | import | sync | rebuild``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.table import Table

from perfpilot.cli.context import Context
from perfpilot.cli.options import (
    OutPath,
    deprecated,
    deprecated_format_option,
    format_options,
    json_option,
)
from perfpilot.cli.render import console

if TYPE_CHECKING:
    from perfpilot.results.db import ResultsDB

F = TypeVar("F", bound=Callable[..., Any])


def _db_option(fn: F) -> F:
    return click.option(
        "--db",
        metavar="FILE|URL",
        help="Results database: a SQLite file or postgresql://... (default: the global "
        "--db, $PERFPILOT_DB, or <workspace>/results.sqlite).",
    )(fn)


def _filters(fn: F) -> F:
    for name, text in reversed(
        (
            ("model", "Only this model."),
            ("scenario", "Only this scenario."),
            ("backend", "Only this backend (published rows: the framework)."),
            ("device", "Only this device."),
            ("system", "Only this system (local runs: the host name)."),
        )
    ):
        fn = click.option(f"--{name}", metavar=name.upper(), help=text)(fn)
    fn = click.option("--tag", "tags", multiple=True, metavar="K=V", help="Only rows tagged so.")(
        fn
    )
    fn = click.option("--since", metavar="DATE", help="Started on or after (YYYY-MM-DD[THH:MM]).")(
        fn
    )
    fn = click.option("--until", metavar="DATE", help="Started on or before.")(fn)
    fn = click.option(
        "--source", type=click.Choice(["local", "published"]), help="Only local or published."
    )(fn)
    return _db_option(fn)


def _open(ctx: Context, db: str | None) -> ResultsDB:
    """The database given to the command as it is; else the user's (global --db,
    $PERFPILOT_DB, the workspace's file), first caught up with the workspace's runs it
    lacks (made before it existed, or while it was unreachable)."""
    from perfpilot.results.db import ResultsDB
    from perfpilot.workspace import Workspace

    if db is not None:
        return ResultsDB.open(db, create=False)
    workspace = Workspace.resolve(ctx.workspace)
    database = ResultsDB.open(ctx.db or workspace)
    try:
        database.sync(workspace)
    except BaseException:
        database.close()
        raise
    return database


def _query(ctx: Context, db: str | None, filters: dict[str, Any]) -> list[dict[str, Any]]:
    tags = filters.pop("tags", ())
    with _open(ctx, db) as database:
        return database.rows(tag=list(tags), **filters)


def _figure(row: dict[str, Any]) -> str:
    from perfpilot.tasks.labels import figure_text

    return figure_text(row["value"], row["scenario"], row["metric"])


def _accuracy(row: dict[str, Any]) -> str:
    from perfpilot.results.record_rows import benchmark_of
    from perfpilot.tasks.labels import accuracy_metric, accuracy_text

    metric = accuracy_metric(row["model"]) or accuracy_metric(benchmark_of(row))
    return accuracy_text(row["accuracy"], metric)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


#: Token benchmarks' (LLMs') columns, shown when a row has them.
TOKEN_COLUMNS = {"TTFT p99 ms": "ttft_p99_ms", "TPOT p99 ms": "tpot_p99_ms"}


def _token_columns(rows: list[dict[str, Any]]) -> dict[str, str]:
    return TOKEN_COLUMNS if any(r.get("ttft_p99_ms") is not None for r in rows) else {}


def _verdict(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"[red]{str(row['status']).upper()}[/red]"
    if row["valid"] is None:
        return "-"
    return "[green]VALID[/green]" if row["valid"] else "[red]INVALID[/red]"


def _who(row: dict[str, Any]) -> str:
    if row["source"] == "published":
        return f"{row['submitter']} {row['division']} {row['round'] or ''}".strip()
    return "local" + (" (stand-in)" if row["standin"] else "")


def _emit(rows: list[dict[str, Any]], fmt: str, table: Callable[[], Table]) -> None:
    from perfpilot.results.export import rows_csv, rows_json

    if fmt == "json":
        click.echo(rows_json(rows), nl=False)
    elif fmt == "csv":
        click.echo(rows_csv(rows), nl=False)
    elif not rows:
        click.echo("no results match: try 'perfpilot results list' without filters")
    else:
        console().print(table())


@click.group()
def results() -> None:
    """The results database: local runs and imported published results."""


@results.command("list")
@_filters
@format_options()
@click.pass_obj
def results_list(ctx: Context, /, db: str | None, fmt: str, **filters: Any) -> None:
    """List results, oldest first (published ones first)."""
    rows = _query(ctx, db, filters)

    def table() -> Table:
        out = Table(header_style="bold")
        for col in ("id", "source", "model", "scenario", "mode", "backend", "system"):
            out.add_column(col, overflow="fold")
        tokens = _token_columns(rows)
        for col in ("result", "figure", "accuracy", "p99 ms", *tokens, "started"):
            out.add_column(col, overflow="fold", justify="right" if col != "result" else "left")
        for r in rows:
            out.add_row(
                r["id"],
                _who(r),
                r["model"],
                r["scenario"],
                r["mode"],
                r["backend"],
                r["system"],
                _verdict(r),
                _figure(r),
                _accuracy(r),
                _ms(r["p99_ms"]),
                *(_ms(r[key]) for key in tokens.values()),
                r["started"] or "-",
            )
        return out

    _emit(rows, fmt, table)


@results.command("show")
@click.argument("result_id")
@_db_option
@json_option("Print the result as JSON.")
@deprecated_format_option()
@click.pass_obj
def results_show(ctx: Context, result_id: str, db: str | None, as_json: bool) -> None:
    """Show one result with its config and provenance (a unique id prefix is enough)."""
    with _open(ctx, db) as database:
        row = database.get(result_id)
    if as_json:
        click.echo(json.dumps(row, indent=2, default=str))
        return
    out = console()
    table = Table(header_style="bold", show_header=False, title=row["id"])
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in row.items():
        if key in ("config", "provenance", "tags"):
            continue
        table.add_row(key, "-" if value is None else str(value))
    table.add_row("figure", _figure(row))
    for key in ("tags", "config", "provenance"):
        table.add_row(key, json.dumps(row[key], indent=1, sort_keys=True, default=str))
    out.print(table, highlight=False)


@results.command("compare")
@click.argument("ids", nargs=-1)
@_filters
@format_options()
@click.pass_obj
def results_compare(
    ctx: Context, /, ids: tuple[str, ...], db: str | None, fmt: str, **filters: Any
) -> None:
    """Results side by side per benchmark and scenario, each against the best published
    one. --model matches the MLPerf benchmark too (resnet50 takes resnet50-standin runs)."""
    from perfpilot.results.compare import compare
    from perfpilot.results.export import rows_csv, rows_json
    from perfpilot.results.record_rows import benchmark_of

    model = filters.pop("model")
    tags = filters.pop("tags")
    with _open(ctx, db) as database:
        rows = [database.get(i) for i in ids] if ids else database.rows(tag=list(tags), **filters)
    if model:
        rows = [
            r for r in rows if model.lower() in (str(r["model"]).lower(), benchmark_of(r).lower())
        ]
    rows = [r for r in rows if r["mode"] != "accuracy" or r["accuracy"] is not None]
    groups = compare(rows)
    if fmt == "json":
        click.echo(rows_json([g.as_dict() for g in groups]), nl=False)
        return
    if fmt == "csv":
        flat = [{**r, "benchmark": g.benchmark} for g in groups for r in g.rows]
        click.echo(rows_csv(flat), nl=False)
        return
    if not groups:
        click.echo("no results match: import published results or run something first")
        return
    for g in groups:
        table = Table(title=f"{g.benchmark} {g.scenario}", header_style="bold")
        for col in ("id", "who", "system", "backend", "device", "result", "figure"):
            table.add_column(col, overflow="fold")
        tokens = _token_columns(g.rows)
        for col in ("vs ref", "accuracy", "p99 ms", *tokens):
            table.add_column(col, justify="right")
        for r in g.rows:
            table.add_row(
                r["id"] + (" (ref)" if r["id"] == g.reference else ""),
                _who(r),
                r["system"],
                r["backend"],
                r["device"],
                _verdict(r),
                _figure(r),
                "-" if r["ratio"] is None else f"{r['ratio']:.4g}x",
                _accuracy(r),
                _ms(r["p99_ms"]),
                *(_ms(r[key]) for key in tokens.values()),
            )
        console().print(table)
    click.echo("vs ref: figure against the reference row (> 1x: better; latency inverted)")


@results.command("export")
@_filters
@format_options(("csv", "json"), default="csv")
@click.option(
    "--to",
    "dest",
    type=click.Choice(["mlflow", "csv", "json"]),
    help="mlflow: log the results as MLflow runs instead (--to csv|json: deprecated, "
    "use --format).",
)
@click.option(
    "--out",
    type=OutPath(),
    metavar="FILE",
    help="csv/json: write to FILE (default: stdout).",
)
@click.option(
    "--tracking-uri",
    metavar="DIR|URI",
    help="mlflow: a folder (SQLite store + artifacts), a .db file, or a server URI "
    "(default: $MLFLOW_TRACKING_URI or <workspace>/mlflow).",
)
@click.option("--experiment", default="perfpilot", show_default=True, help="mlflow experiment.")
@click.pass_obj
def results_export(
    ctx: Context,
    /,
    db: str | None,
    fmt: str,
    dest: str | None,
    out: Path | None,
    tracking_uri: str | None,
    experiment: str,
    **filters: Any,
) -> None:
    """Export results as CSV or JSON, or log them as MLflow runs (re-export skips the
    runs already there)."""
    import os

    from perfpilot.artifacts import atomic_write_text
    from perfpilot.results.export import rows_csv, rows_json, to_mlflow
    from perfpilot.workspace import Workspace

    if dest in ("csv", "json"):
        deprecated(f"--to {dest}", f"--format {dest}")
        fmt = dest
    rows = _query(ctx, db, filters)
    if dest == "mlflow":
        target = (
            tracking_uri
            or os.environ.get("MLFLOW_TRACKING_URI")
            or str(Workspace.resolve(ctx.workspace).root / "mlflow")
        )
        report = to_mlflow(rows, target, experiment)
        if fmt == "json":
            click.echo(
                json.dumps(
                    {
                        "exported": report.exported,
                        "skipped": report.skipped,
                        "experiment": report.experiment,
                        "tracking_uri": report.tracking_uri,
                    },
                    indent=2,
                )
            )
            return
        click.echo(
            f"mlflow: {len(report.exported)} run(s) logged, {len(report.skipped)} already there "
            f"(experiment {report.experiment!r} in {report.tracking_uri})"
        )
        return
    text = rows_json(rows) if fmt == "json" else rows_csv(rows)
    if out is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
        click.echo(f"wrote {len(rows)} row(s) to {out}", err=True)


@results.command("import")
@click.argument("folder", type=click.Path(path_type=Path))
@_db_option
@click.option("--round", "round_name", metavar="vX.Y", help="Round (default: from the path).")
@format_options()
@click.pass_obj
def results_import(
    ctx: Context, folder: Path, db: str | None, round_name: str | None, fmt: str
) -> None:
    """Import official submission trees (results repository, division or submitter folder)
    as published results, with the figures the official checker reports."""
    from perfpilot.results.db import ResultsDB
    from perfpilot.results.published import prepare_import, skipped_in
    from perfpilot.workspace import Workspace

    if round_name:  # as 'submission check --round' takes it: a round with known rules
        from perfpilot.submission.rounds import get_round

        round_name = get_round(round_name).name
    report = prepare_import(folder, round_name)  # bad input: refused before any file exists
    target = db or ctx.db or Workspace.resolve(ctx.workspace)
    with ResultsDB.open(target) as database:
        database.add_rows(iter(report.rows), import_path=str(folder.absolute()))
        rows = database.rows(ids=report.ids)
    for location, why in report.skipped:  # the rest is imported: name what was left out
        click.echo(f"skipped {location}: {why}", err=True)
    if fmt == "table":
        click.echo(f"imported {len(rows)} published result(s) into {database.where}")
    _emit(rows, fmt, lambda: _published_table(rows))
    for skipped in skipped_in(folder):  # links are never followed out of the tree
        click.echo(f"perfpilot: skipped {skipped.line()}", err=True)


def _published_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(header_style="bold")
    for col in ("submitter", "division", "round", "system", "model", "scenario", "result"):
        table.add_column(col, overflow="fold")
    table.add_column("figure", justify="right")
    table.add_column("accuracy", justify="right")
    for r in rows:
        table.add_row(
            r["submitter"],
            r["division"],
            r["round"] or "-",
            r["system"],
            r["model"],
            r["scenario"],
            _verdict(r),
            _figure(r),
            _accuracy(r),
        )
    return table


@results.command("rebuild")
@_db_option
@json_option("Print the counts as JSON.")
@click.pass_obj
def results_rebuild(ctx: Context, db: str | None, as_json: bool) -> None:
    """Recreate the database from the run records (published rows of a readable old file
    are kept; an unreadable file is replaced). A server's database: the workspace's runs
    are indexed again, the rest is kept."""
    from perfpilot.cli.runs_cmds import open_workspace
    from perfpilot.results.db import rebuild

    path, local, published = rebuild(open_workspace(ctx), db or ctx.db)
    if as_json:
        data = {"database": str(path), "local": local, "published": published}
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"rebuilt {path}: {local} local run(s), {published} published result(s) kept")


@results.command("sync")
@_db_option
@json_option("Print the counts as JSON.")
@click.pass_obj
def results_sync(ctx: Context, db: str | None, as_json: bool) -> None:
    """Index every run of the workspace that the database lacks: runs made while it was
    unreachable, or before it existed (nothing indexed already is rewritten)."""
    from perfpilot.results.db import ResultsDB
    from perfpilot.workspace import Workspace

    workspace = Workspace.resolve(ctx.workspace)
    with ResultsDB.open(db or ctx.db or workspace) as database:
        added, had = database.sync(workspace)
    if as_json:
        click.echo(json.dumps({"database": database.where, "indexed": added, "had": had}))
        return
    click.echo(f"synced {database.where}: {added} run(s) indexed, {had} already there")
