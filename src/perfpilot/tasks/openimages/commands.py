"""``perfpilot dataset synthetic-openimages``: a stand-in of the openimages dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-openimages")
@folder_argument
@count_option(8, help="How many images to write.")
@seed_option
def synthetic_openimages(folder: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic JPEGs with random boxes and their COCO-format annotations
    into FOLDER, in the MLPerf OpenImages layout (an OpenImages stand-in for RetinaNet:
    runs the pipeline end to end; its mAP means nothing)."""
    from perfpilot.tasks.openimages.dataset import make_synthetic_openimages

    make_synthetic_openimages(folder, count=count, seed=seed)
    click.echo(f"wrote {count} images and their annotations to {folder}")
