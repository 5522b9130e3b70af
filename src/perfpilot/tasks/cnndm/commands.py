"""``perfpilot dataset synthetic-cnndm``: a stand-in of the reference's cnn_eval.json."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-cnndm")
@folder_argument
@count_option(32, help="How many articles to write.")
@seed_option
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
