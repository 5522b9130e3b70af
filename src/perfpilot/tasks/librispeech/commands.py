"""``perfpilot dataset synthetic-librispeech``: a stand-in of the librispeech dataset's folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("synthetic-librispeech")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="How many clips to write.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files)."
)
def synthetic_librispeech(folder: Path, count: int, seed: int) -> None:
    """Write COUNT short 16 kHz wav clips (plus one over 15 s, which RNN-T's reader drops
    as the reference does) and dev-clean-wav.json into FOLDER, in the layout of the
    reference's convert_librispeech.py (a LibriSpeech stand-in: runs the pipeline end to
    end; its WER means nothing)."""
    from perfpilot.tasks.librispeech.dataset import MANIFEST, make_synthetic_librispeech

    make_synthetic_librispeech(folder, count=count, seed=seed)
    click.echo(f"wrote {count + 1} clips and {MANIFEST} to {folder}")
