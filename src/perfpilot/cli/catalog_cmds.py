"""``perfpilot models list`` and ``perfpilot backends list``."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from perfpilot.cli.render import console


@click.group()
def models() -> None:
    """Models in the catalog."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models_list(as_json: bool) -> None:
    """List the catalog's models with their task, format and accuracy target."""
    from perfpilot.tasks import get_task, models

    rows: list[dict[str, Any]] = []
    for spec in models().values():
        task = get_task(spec.task)
        rows.append(
            {
                "name": spec.name,
                "task": spec.task,
                "format": spec.format,
                "metric": task.metric,
                "target": None if spec.standin else (spec.accuracy_target or task.accuracy_target),
                "standin": spec.standin,
                "runnable": spec.runnable and task.runnable,
                "open_only": spec.open_only or spec.standin,
                "description": spec.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(header_style="bold")
    for col in ("model", "task", "format", "runs", "accuracy target", "description"):
        table.add_column(col)
    for r in rows:
        target = (
            "stand-in: not judged" if r["target"] is None else f"{r['metric']} >= {r['target']}%"
        )
        runs = ("yes" if r["runnable"] else "entry only") + (", open" if r["open_only"] else "")
        table.add_row(r["name"], r["task"], r["format"], runs, target, r["description"])
    console().print(table)


@click.group()
def backends() -> None:
    """Inference backends."""


@backends.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def backends_list(as_json: bool) -> None:
    """List backends, whether their runtime is installed, and how to install it."""
    from perfpilot.backends.registry import all_backends

    rows: list[dict[str, Any]] = []
    for entry in all_backends().values():
        installed = entry.installed()
        rows.append(
            {
                "name": entry.name,
                "installed": installed,
                "devices": list(entry.devices),
                "install": entry.install_hint(),
                "description": entry.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(header_style="bold")
    for col in ("backend", "installed", "devices", "install with", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            "[green]yes[/green]" if r["installed"] else "[red]no[/red]",
            ", ".join(r["devices"]),
            "-" if r["installed"] else r["install"],
            r["description"],
        )
    console().print(table)
