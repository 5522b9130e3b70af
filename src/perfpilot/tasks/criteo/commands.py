"""``perfpilot dataset synthetic-criteo``: a stand-in of the criteo dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("synthetic-criteo")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Rows (user-item pairs); LoadGen samples group 100-700 of them.",
)
@click.option(
    "--name",
    "variant",
    type=click.Choice(["debug", "multihot-criteo-sample", "multihot-criteo"]),
    default="debug",
    show_default=True,
    help="Which of the reference's file sets to write (multihot-criteo: only its first "
    "half is read, as the validation split).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files)."
)
def synthetic_criteo(folder: Path, count: int, variant: str, seed: int) -> None:
    """Write COUNT rows of multi-hot Criteo day 23 (dense .npy, 26-table sparse .npz,
    labels .npy) into FOLDER, in the layout of the DLRM-v2 reference (a Criteo stand-in:
    runs the pipeline end to end; its AUC means nothing)."""
    from perfpilot.tasks.criteo.dataset import aggregation_offsets, make_synthetic_criteo

    make_synthetic_criteo(folder, rows=count, seed=seed, variant=variant)
    used = (count + 1) // 2 if variant == "multihot-criteo" else count  # the validation half
    samples = len(aggregation_offsets(used)) - 1
    click.echo(f"wrote {count} rows ({samples} LoadGen samples), {variant!r} files, to {folder}")
