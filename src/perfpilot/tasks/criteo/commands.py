"""``perfpilot dataset synthetic-criteo``: a stand-in of the criteo dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-criteo")
@folder_argument
@count_option(2000, help="Rows (user-item pairs); LoadGen samples group 100-700 of them.")
@click.option(
    "--name",
    "variant",
    type=click.Choice(["debug", "multihot-criteo-sample", "multihot-criteo"]),
    default="debug",
    show_default=True,
    help="Which of the reference's file sets to write (multihot-criteo: only its first "
    "half is read, as the validation split).",
)
@seed_option
def synthetic_criteo(folder: Path, count: int, variant: str, seed: int) -> None:
    """Write COUNT rows of multi-hot Criteo day 23 (dense .npy, 26-table sparse .npz,
    labels .npy) into FOLDER, in the layout of the DLRM-v2 reference (a Criteo stand-in:
    runs the pipeline end to end; its AUC means nothing)."""
    from perfpilot.tasks.criteo.dataset import aggregation_offsets, make_synthetic_criteo

    make_synthetic_criteo(folder, rows=count, seed=seed, variant=variant)
    used = (count + 1) // 2 if variant == "multihot-criteo" else count  # the validation half
    samples = len(aggregation_offsets(used)) - 1
    click.echo(f"wrote {count} rows ({samples} LoadGen samples), {variant!r} files, to {folder}")
