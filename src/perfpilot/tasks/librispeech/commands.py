"""``perfpilot dataset synthetic-librispeech``: a stand-in of the librispeech dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-librispeech")
@folder_argument
@count_option(8, help="How many clips to write.")
@seed_option
def synthetic_librispeech(folder: Path, count: int, seed: int) -> None:
    """Write COUNT short 16 kHz wav clips (plus one over 15 s, which RNN-T's reader drops
    as the reference does) and dev-clean-wav.json into FOLDER, in the layout of the
    reference's convert_librispeech.py (a LibriSpeech stand-in: runs the pipeline end to
    end; its WER means nothing)."""
    from perfpilot.tasks.librispeech.dataset import MANIFEST, make_synthetic_librispeech

    make_synthetic_librispeech(folder, count=count, seed=seed)
    click.echo(f"wrote {count + 1} clips and {MANIFEST} to {folder}")
