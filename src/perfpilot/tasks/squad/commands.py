"""``perfpilot dataset synthetic-squad``: a stand-in of the squad dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("synthetic-squad")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--articles",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="How many articles to write (each with its paragraphs and questions).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files)."
)
def synthetic_squad(folder: Path, articles: int, seed: int) -> None:
    """Write a small SQuAD v1.1-format dev-v1.1.json and a vocab.txt covering it into
    FOLDER (a SQuAD stand-in for BERT: runs the pipeline end to end; its accuracy means
    nothing)."""
    from perfpilot.tasks.squad.dataset import make_synthetic_squad, read_examples

    make_synthetic_squad(folder, articles=articles, seed=seed)
    count = len(read_examples(folder / "dev-v1.1.json"))
    click.echo(f"wrote dev-v1.1.json ({count} questions) and vocab.txt to {folder}")
