"""``perfpilot dataset ...``: helpers for datasets users supply."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def dataset() -> None:
    """Datasets: make stand-ins for machines without the real ones."""


@dataset.command("synthetic-imagenet")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--count", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic_imagenet(folder: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic JPEGs and a val_map.txt into FOLDER (an ImageNet stand-in:
    runs the pipeline end to end; its accuracy means nothing)."""
    from perfpilot.catalog.imagenet import make_synthetic_imagenet

    make_synthetic_imagenet(folder, count=count, seed=seed)
    click.echo(f"wrote {count} images and val_map.txt to {folder}")


@dataset.command("synthetic-squad")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--articles", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic_squad(folder: Path, articles: int, seed: int) -> None:
    """Write a small SQuAD v1.1-format dev-v1.1.json and a vocab.txt covering it into
    FOLDER (a SQuAD stand-in for BERT: runs the pipeline end to end; its accuracy means
    nothing)."""
    from perfpilot.catalog.squad import make_synthetic_squad, read_examples

    make_synthetic_squad(folder, articles=articles, seed=seed)
    count = len(read_examples(folder / "dev-v1.1.json"))
    click.echo(f"wrote dev-v1.1.json ({count} questions) and vocab.txt to {folder}")
