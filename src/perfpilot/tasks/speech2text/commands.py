"""``perfpilot dataset synthetic-speech2text``: a stand-in of the Whisper dataset folder."""

from __future__ import annotations

from pathlib import Path

import click

from perfpilot.tasks.common.synthetic import count_option, folder_argument, seed_option


@click.command("synthetic-speech2text")
@folder_argument
@count_option(4, help="How many clips to write.")
@seed_option
def synthetic_speech2text(folder: Path, count: int, seed: int) -> None:
    """Write COUNT short 16 kHz wav clips (plus one over 30 s, which the reader drops as
    the reference does) and dev-all-repack.json into FOLDER, in the layout of the
    reference's repackage_librispeech.py (a stand-in for LibriSpeech dev-all-repack: runs
    the Whisper pipeline end to end; its WER means nothing)."""
    from perfpilot.tasks.speech2text.dataset import MANIFEST, make_synthetic

    make_synthetic(folder, count=count, seed=seed)
    click.echo(f"wrote {count + 1} clips and {MANIFEST} to {folder}")
