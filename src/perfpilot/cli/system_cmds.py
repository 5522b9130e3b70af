"""``perfpilot system describe``: the MLPerf system JSON of this machine."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.cli.context import Context
from perfpilot.cli.options import OutPath


@click.group()
def system() -> None:
    """The MLPerf system description of this machine."""


@system.command("describe")
@click.option("--out", type=OutPath(), help="Write the system JSON here.")
@click.option(
    "--from",
    "from_yaml",
    type=click.Path(path_type=Path),
    help="YAML of fields that complete or override what was detected.",
)
@click.option("--backend", default="onnxruntime", show_default=True, help="Framework to name.")
@click.option("--submitter", help="Submitting organization.")
@click.option(
    "--division",
    type=click.Choice(["closed", "open", "network"]),
    help="The division field of the system JSON.",
)
@click.option("--system-name", help="Human-readable system name.")
@click.option("--category", "system_type", help="datacenter, edge or datacenter,edge.")
@click.option(
    "--status",
    type=click.Choice(["available", "preview", "rdi"]),
    help="Availability: available, preview or rdi (research, development, internal).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON with the missing fields.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_obj
def describe(
    ctx: Context,
    /,
    out: Path | None,
    from_yaml: Path | None,
    backend: str,
    as_json: bool,
    force: bool,
    system_type: str | None,
    **given: str | None,
) -> int:
    """Detect CPU, memory, storage, OS, accelerators and software into the system JSON."""
    import json

    from perfpilot.artifacts import atomic_write_text
    from perfpilot.errors import UsageError
    from perfpilot.submission import rounds
    from perfpilot.submission import system as sysdesc

    overrides = sysdesc.read_yaml(from_yaml) if from_yaml else None
    if system_type:
        system_type = rounds.normalize_category(system_type)
    desc = sysdesc.describe(overrides, backend=backend, system_type=system_type, **given)
    missing = desc.missing()
    if out is not None:
        if out.exists() and not force:
            raise UsageError(f"{out} exists", "Pass --force to overwrite it, or another --out.")
        atomic_write_text(out, desc.to_json())
    if as_json:
        click.echo(json.dumps({"system": desc.fields, "missing": missing}, indent=2))
    elif out is None:
        click.echo(desc.to_json(), nl=False)
    if out is not None:
        click.echo(f"wrote {out}", err=True)
    # 'submission generate' sets the division and the submitter, and the system type when
    # it is empty (the campaign's category); the checker wants every other field filled in
    # any division, and generate refuses a closed tree without them.
    to_fill = [f for f in missing if f not in ("division", "submitter", "system_type")]
    if to_fill:
        click.echo(
            f"not detected, fill before you submit: {', '.join(to_fill)} "
            "(YAML with 'field: value' lines, then --from FILE; the checker wants them in "
            "every division, and a closed tree is not generated without them)",
            err=True,
        )
    return 0
