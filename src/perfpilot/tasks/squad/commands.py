"""``perfpilot dataset synthetic-squad``: a stand-in of the squad dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-squad")
@folder_argument
@count_option(
    3, "--articles", help="How many articles to write (each with its paragraphs and questions)."
)
@seed_option
def synthetic_squad(folder: Path, articles: int, seed: int) -> None:
    """Write a small SQuAD v1.1-format dev-v1.1.json and a vocab.txt covering it into
    FOLDER (a SQuAD stand-in for BERT: runs the pipeline end to end; its accuracy means
    nothing)."""
    from perfpilot.tasks.squad.dataset import make_synthetic_squad, read_examples

    make_synthetic_squad(folder, articles=articles, seed=seed)
    count = len(read_examples(folder / "dev-v1.1.json"))
    click.echo(f"wrote dev-v1.1.json ({count} questions) and vocab.txt to {folder}")
