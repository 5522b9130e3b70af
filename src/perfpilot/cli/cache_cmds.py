"""``perfpilot cache list | verify | add | rm | gc | path | fetch``: the artifact store and
the models and arrays perfpilot built into the cache."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK
from perfpilot.cli.options import json_option
from perfpilot.cli.render import console
from perfpilot.errors import UsageError


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
@json_option("Print the stored and the built artifacts as JSON.")
def cache_list(as_json: bool) -> None:
    """List stored artifacts (downloaded or added) and built ones (perfpilot's own models,
    converted and compiled models, preprocessed arrays) with their size and hash."""
    from perfpilot.artifacts import built, cache_dir, store

    entries = store.list_entries()
    made = built.list_built()
    if as_json:
        data = {
            "stored": [e.model_dump() for e in entries],
            "built": [asdict(b) for b in made],
        }
        click.echo(json.dumps(data, indent=2))
        return
    if not entries and not made:
        click.echo(f"no artifacts in the cache ({cache_dir()})")
        return
    table = Table(header_style="bold")
    for col in ("name", "kind", "size", "sha256", "source", "when"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(e.name, "stored", _size(e.size), e.sha256[:12], e.source, e.fetched)
    for b in made:
        table.add_row(b.artifact, "built", _size(b.size), b.short_hash or "-", b.folder, b.created)
    console().print(table)


@cache.command("rm")
@click.argument("names", nargs=-1, required=True, metavar="NAME|HASH...")
@click.option("--yes", is_flag=True, help="Remove without asking (needed when not on a terminal).")
@json_option("Print what was removed as JSON.")
def cache_rm(names: tuple[str, ...], yes: bool, as_json: bool) -> None:
    """Remove artifacts by name or hash prefix (6+ hex digits): stored ones and built ones
    (a built model is built again when a run needs it)."""
    import sys

    from perfpilot.artifacts import built, maintenance, store

    stored = {e.name: e for e in store.list_entries()}
    made = built.list_built()
    doomed_store: list[str] = []
    doomed_built: list[built.BuiltEntry] = []
    for what in names:
        hits_store = [
            n
            for n, e in stored.items()
            if what == n or (len(what) >= 6 and e.sha256.startswith(what.lower()))
        ]
        hits_built = [b for b in made if built.matches(b, what)]
        if not hits_store and not hits_built:
            raise UsageError(
                f"no artifact named {what!r} or with a hash starting so in the cache",
                "'perfpilot cache list' shows the names and hashes.",
            )
        doomed_store += [n for n in hits_store if n not in doomed_store]
        doomed_built += [b for b in hits_built if b not in doomed_built]
    labels = [f"{n} (stored)" for n in doomed_store] + [
        f"{b.artifact} {b.short_hash} ({b.folder})" for b in doomed_built
    ]
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"cache rm would remove {len(labels)} artifact(s): {'; '.join(labels)}",
                "Pass --yes to remove them.",
            )
        click.confirm(f"remove {'; '.join(labels)}?", abort=True, err=True)
    freed = sum(maintenance.remove(n) for n in doomed_store)
    for b in doomed_built:
        freed += b.size
        built.remove(b)
    if as_json:
        data = {"removed": labels, "freed_bytes": freed}
        click.echo(json.dumps(data, indent=2))
        return
    for label in labels:
        click.echo(f"removed {label}")
    click.echo(f"{_size(freed)} freed")


@cache.command("verify")
@json_option("Print the report as JSON.")
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
@json_option("Print the manifest as JSON.")
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
@json_option("Print what was removed as JSON.")
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
@json_option("Print the name and path as JSON.")
def cache_path(name: str, as_json: bool) -> None:
    """Print the path of artifact NAME's stored file."""
    from perfpilot.artifacts import store

    found = store.path(name)
    click.echo(json.dumps({"name": name, "path": str(found)}) if as_json else str(found))


@cache.command("fetch")
@click.argument("model")
@json_option("Print the model and the stored file's path as JSON.")
def cache_fetch(model: str, as_json: bool) -> None:
    """Download catalog MODEL's official file into the store (tries each mirror, checks
    the published checksum) and print its path."""
    from perfpilot.tasks import get_model
    from perfpilot.tasks.common.fetch import fetch_model

    spec = get_model(model)
    if not spec.urls:
        raise UsageError(
            f"model {model!r} has no downloadable file in the catalog"
            + (" (perfpilot builds it)" if spec.provider else ""),
            "'perfpilot models list' describes each entry.",
        )
    found = fetch_model(spec)
    click.echo(json.dumps({"model": model, "path": str(found)}) if as_json else str(found))
