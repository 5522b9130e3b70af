"""``perfpilot dataset ...``: helpers for datasets users supply."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def dataset() -> None:
    """Datasets: make stand-ins for machines without the real ones."""


@dataset.command("synthetic-imagenet")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--count", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic_imagenet(folder: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic JPEGs and a val_map.txt into FOLDER (an ImageNet stand-in:
    runs the pipeline end to end; its accuracy means nothing)."""
    from perfpilot.tasks.imagenet.dataset import make_synthetic_imagenet

    make_synthetic_imagenet(folder, count=count, seed=seed)
    click.echo(f"wrote {count} images and val_map.txt to {folder}")


@dataset.command("synthetic-squad")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--articles", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic_squad(folder: Path, articles: int, seed: int) -> None:
    """Write a small SQuAD v1.1-format dev-v1.1.json and a vocab.txt covering it into
    FOLDER (a SQuAD stand-in for BERT: runs the pipeline end to end; its accuracy means
    nothing)."""
    from perfpilot.tasks.squad.dataset import make_synthetic_squad, read_examples

    make_synthetic_squad(folder, articles=articles, seed=seed)
    count = len(read_examples(folder / "dev-v1.1.json"))
    click.echo(f"wrote dev-v1.1.json ({count} questions) and vocab.txt to {folder}")


@dataset.command("synthetic-kits19")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--count", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic_kits19(folder: Path, count: int, seed: int) -> None:
    """Write COUNT synthetic cases (case_XXXXX.pkl, sides of 128 or 192 voxels) and
    preprocessed_files.pkl into FOLDER, in the layout of the 3D-UNet reference's
    preprocess.py (a KiTS19 stand-in: runs the pipeline end to end; its DICE means
    nothing)."""
    from perfpilot.tasks.kits19.dataset import make_synthetic_kits19

    make_synthetic_kits19(folder, count=count, seed=seed)
    click.echo(f"wrote {count} cases and preprocessed_files.pkl to {folder}")


@dataset.command("synthetic-librispeech")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--count", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic_librispeech(folder: Path, count: int, seed: int) -> None:
    """Write COUNT short 16 kHz wav clips (plus one over 15 s, which RNN-T's reader drops
    as the reference does) and dev-clean-wav.json into FOLDER, in the layout of the
    reference's convert_librispeech.py (a LibriSpeech stand-in: runs the pipeline end to
    end; its WER means nothing)."""
    from perfpilot.tasks.librispeech.dataset import MANIFEST, make_synthetic_librispeech

    make_synthetic_librispeech(folder, count=count, seed=seed)
    click.echo(f"wrote {count + 1} clips and {MANIFEST} to {folder}")


@dataset.command("synthetic-criteo")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Rows (user-item pairs); LoadGen samples group 100-700 of them.",
)
@click.option(
    "--name",
    "variant",
    type=click.Choice(["debug", "multihot-criteo-sample", "multihot-criteo"]),
    default="debug",
    show_default=True,
    help="Which of the reference's file sets to write (multihot-criteo: only its first "
    "half is read, as the validation split).",
)
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic_criteo(folder: Path, count: int, variant: str, seed: int) -> None:
    """Write COUNT rows of multi-hot Criteo day 23 (dense .npy, 26-table sparse .npz,
    labels .npy) into FOLDER, in the layout of the DLRM-v2 reference (a Criteo stand-in:
    runs the pipeline end to end; its AUC means nothing)."""
    from perfpilot.tasks.criteo.dataset import aggregation_offsets, make_synthetic_criteo

    make_synthetic_criteo(folder, rows=count, seed=seed, variant=variant)
    used = (count + 1) // 2 if variant == "multihot-criteo" else count  # the validation half
    samples = len(aggregation_offsets(used)) - 1
    click.echo(f"wrote {count} rows ({samples} LoadGen samples), {variant!r} files, to {folder}")
