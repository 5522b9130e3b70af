"""``perfpilot cache list | verify | add | gc | path | fetch``: the artifact store."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK
from perfpilot.cli.render import console


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value, unit = n / 1000, "KB"
    for bigger in ("MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"


@click.group()
def cache() -> None:
    """Downloaded and added artifacts (models, datasets), stored by their SHA-256."""


@cache.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests as JSON.")
def cache_list(as_json: bool) -> None:
    """List stored artifacts with their size, checksum and source."""
    from perfpilot.artifacts import store

    entries = store.list_entries()
    if as_json:
        click.echo(json.dumps([e.model_dump() for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"no artifacts in the cache ({store.store_root()})")
        return
    table = Table(header_style="bold")
    for col in ("name", "size", "sha256", "source", "fetched"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(e.name, _size(e.size), e.sha256[:12], e.source, e.fetched)
    console().print(table)


@cache.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def cache_verify(as_json: bool) -> int:
    """Re-hash every stored file; quarantine corrupt ones (exit code 1 if any)."""
    from perfpilot.artifacts import maintenance

    report = maintenance.verify()
    if as_json:
        data: dict[str, Any] = {"checked": report.checked, "ok": report.ok}
        data["problems"] = [asdict(p) for p in report.problems]
        click.echo(json.dumps(data, indent=2))
    else:
        for p in report.problems:
            names = ", ".join(p.names) or "no artifact"
            moved = f"; moved to {p.moved_to}" if p.moved_to else ""
            click.echo(f"x {p.kind} {p.path} ({names}): {p.detail}{moved}; entry removed")
        state = "all intact" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(f"checked {report.checked} stored file(s): {state}")
    return EXIT_OK if report.ok else EXIT_FAILED


@cache.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--as", "name", required=True, metavar="NAME", help="Artifact name.")
@click.option("--sha256", metavar="HEX", help="Expected SHA-256; refused if it differs.")
@click.option(
    "--md5", metavar="HEX", help="Expected MD5 (as MLCommons publishes); refused if it differs."
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def cache_add(file: Path, name: str, sha256: str | None, md5: str | None, as_json: bool) -> None:
    """Store FILE, obtained elsewhere, as artifact NAME (it is copied)."""
    from perfpilot.artifacts import store

    stored = store.add(file, name, sha256=sha256, md5=md5)
    if as_json:
        data = {**store.entry(name).model_dump(), "path": str(stored)}
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"added {name}: {stored}")


@cache.command("gc")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
def cache_gc(as_json: bool) -> None:
    """Delete stored files no artifact uses, and leftovers of interrupted downloads."""
    from perfpilot.artifacts import maintenance

    report = maintenance.gc()
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
        return
    click.echo(
        f"removed {report.objects} unused file(s) and {report.tmp_files} temporary file(s), "
        f"{_size(report.freed_bytes)} freed"
    )


@cache.command("path")
@click.argument("name")
def cache_path(name: str) -> None:
    """Print the path of artifact NAME's stored file."""
    from perfpilot.artifacts import store

    click.echo(str(store.path(name)))


@cache.command("fetch")
@click.argument("model")
def cache_fetch(model: str) -> None:
    """Download catalog MODEL's official file into the store (tries each mirror, checks
    the published checksum) and print its path."""
    from perfpilot.errors import UsageError
    from perfpilot.tasks import get_model
    from perfpilot.tasks.common.fetch import fetch_model

    spec = get_model(model)
    if not spec.urls:
        raise UsageError(
            f"model {model!r} has no downloadable file in the catalog"
            + (" (perfpilot builds it)" if spec.provider else ""),
            "'perfpilot models list' describes each entry.",
        )
    click.echo(str(fetch_model(spec)))
