"""``perfpilot dataset synthetic-cnndm``: a stand-in of the reference's cnn_eval.json."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("synthetic-cnndm")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="How many articles to write.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files)."
)
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="tokenizer.json (or a model folder holding one) for the prompts' token ids; "
    "default: the llama3.1-8b-standin's",
)
def synthetic_cnndm(folder: Path, count: int, seed: int, tokenizer: Path | None) -> None:
    """Write COUNT made-up articles with their prompts' token ids and reference summaries
    into FOLDER/cnn_eval.json, in the layout of the Llama 3.1 8B reference (a
    CNN-DailyMail stand-in: runs the token path and the ROUGE scorer end to end; its text
    means nothing)."""
    from perfpilot.tasks.cnndm.dataset import make_synthetic_cnndm

    path = make_synthetic_cnndm(folder, count=count, seed=seed, tokenizer=tokenizer)
    click.echo(f"wrote {count} prompts to {path}")
