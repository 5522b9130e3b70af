"""``perfpilot dataset synthetic-deepseek-r1``: a stand-in of the reference's DeepSeek-R1
pickle."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-deepseek-r1")
@folder_argument
@count_option(20, help="How many prompts to write.")
@seed_option
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="tokenizer.json (or a model folder holding one) for the prompts' token ids; "
    "default: the Llama stand-in's",
)
def synthetic_deepseek_r1(folder: Path, count: int, seed: int, tokenizer: Path | None) -> None:
    """Write COUNT made-up questions from the five sub-datasets (in turn) with their
    prompts' token ids and answers into FOLDER/mlperf_deepseek_r1_dataset_4388_fp8_eval.pkl,
    in the layout of the DeepSeek-R1 reference (a pandas pickle: needs pandas). Its text
    means nothing: it runs the token path and the exact-match scorer end to end."""
    from perfpilot.tasks.deepseek_r1.dataset import make_synthetic_deepseek

    path = make_synthetic_deepseek(folder, count=count, seed=seed, tokenizer=tokenizer)
    click.echo(f"wrote {count} prompts to {path}")
