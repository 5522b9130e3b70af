"""``perfpilot dataset synthetic-kits19``: a stand-in of the kits19 dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-kits19")
@folder_argument
@count_option(4, help="How many cases to write.")
@seed_option
def synthetic_kits19(folder: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic cases (case_XXXXX.pkl, sides of 128 or 192 voxels) and
    preprocessed_files.pkl into FOLDER, in the layout of the 3D-UNet reference's
    preprocess.py (a KiTS19 stand-in: runs the pipeline end to end; its DICE means
    nothing)."""
    from perfpilot.tasks.kits19.dataset import make_synthetic_kits19

    make_synthetic_kits19(folder, count=count, seed=seed)
    click.echo(f"wrote {count} cases and preprocessed_files.pkl to {folder}")
