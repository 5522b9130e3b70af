"""``perfpilot dataset synthetic-llama2-70b``: a stand-in of the reference's Open-Orca
pickle."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-llama2-70b")
@folder_argument
@count_option(32, help="How many prompts to write.")
@seed_option
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="tokenizer.json (or a model folder holding one) for the prompts' token ids; "
    "default: the Llama stand-in's",
)
def synthetic_llama2_70b(folder: Path, count: int, seed: int, tokenizer: Path | None) -> None:
    """Write COUNT made-up questions with their prompts' token ids and reference answers
    into FOLDER/open_orca_gpt4_tokenized_llama.sampled_24576.pkl, in the layout of the
    Llama 2 70B reference (a pandas pickle: needs pandas). Its text means nothing: it runs
    the token path and the ROUGE scorer end to end."""
    from perfpilot.tasks.llama2_70b.dataset import make_synthetic_orca

    path = make_synthetic_orca(folder, count=count, seed=seed, tokenizer=tokenizer)
    click.echo(f"wrote {count} prompts to {path}")
