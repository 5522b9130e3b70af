"""``perfpilot dataset synthetic-imagenet``: a stand-in of the imagenet dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-imagenet")
@folder_argument
@count_option(64, help="How many images to write.")
@seed_option
def synthetic_imagenet(folder: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic JPEGs and a val_map.txt into FOLDER (an ImageNet stand-in:
    runs the pipeline end to end; its accuracy means nothing)."""
    from perfpilot.tasks.imagenet.dataset import make_synthetic_imagenet

    make_synthetic_imagenet(folder, count=count, seed=seed)
    click.echo(f"wrote {count} images and val_map.txt to {folder}")
