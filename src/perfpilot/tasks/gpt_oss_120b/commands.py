"""``perfpilot dataset synthetic-gpt-oss-120b``: a stand-in of the reference's gpt-oss
dataset folder."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-gpt-oss-120b")
@folder_argument
@count_option(16, help="How many prompts to write.")
@seed_option
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="tokenizer.json (or a model folder holding one) for the prompts' token ids; "
    "default: the Llama stand-in's",
)
def synthetic_gpt_oss_120b(folder: Path, count: int, seed: int, tokenizer: Path | None) -> None:
    """Write COUNT made-up AIME25, GPQA-Diamond and LiveCodeBench v6 questions (in turn)
    with their prompts' token ids and answers into FOLDER/acc/acc_eval_inputs.parquet and
    FOLDER/perf/perf_eval_ref.parquet, in the layout of the gpt-oss-120b reference. Its
    text means nothing: it runs the token path and the exact-match scorer end to end."""
    from perfpilot.tasks.gpt_oss_120b.dataset import make_synthetic_gpt_oss

    path = make_synthetic_gpt_oss(folder, count=count, seed=seed, tokenizer=tokenizer)
    click.echo(f"wrote {count} prompts to {path}")
