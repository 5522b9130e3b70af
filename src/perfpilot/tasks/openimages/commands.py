"""``perfpilot dataset synthetic-openimages``: a stand-in of the openimages dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("synthetic-openimages")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="How many images to write.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files)."
)
def synthetic_openimages(folder: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic JPEGs with random boxes and their COCO-format annotations
    into FOLDER, in the MLPerf OpenImages layout (an OpenImages stand-in for RetinaNet:
    runs the pipeline end to end; its mAP means nothing)."""
    from perfpilot.tasks.openimages.dataset import make_synthetic_openimages

    make_synthetic_openimages(folder, count=count, seed=seed)
    click.echo(f"wrote {count} images and their annotations to {folder}")
