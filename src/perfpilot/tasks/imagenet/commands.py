"""``perfpilot dataset synthetic-imagenet``: a stand-in of the imagenet dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("synthetic-imagenet")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="How many images to write.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files)."
)
def synthetic_imagenet(folder: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic JPEGs and a val_map.txt into FOLDER (an ImageNet stand-in:
    runs the pipeline end to end; its accuracy means nothing)."""
    from perfpilot.tasks.imagenet.dataset import make_synthetic_imagenet

    make_synthetic_imagenet(folder, count=count, seed=seed)
    click.echo(f"wrote {count} images and val_map.txt to {folder}")
