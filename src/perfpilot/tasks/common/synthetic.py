"""What every ``perfpilot dataset synthetic-<task>`` command takes: the folder to write
(refused when it, or a folder on its way, is a file), how many samples, and the seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from perfpilot.userfiles import OutPath

F = TypeVar("F", bound=Callable[..., Any])

#: A stand-in exercises the pipeline; a million samples is more than any real
#: validation set perfpilot reads.
MAX_COUNT = 1_000_000


def folder_argument(fn: F) -> F:
    return click.argument("folder", type=OutPath(folder=True))(fn)


def count_option(default: int, flag: str = "--count", help: str | None = None) -> Callable[[F], F]:
    return click.option(
        flag,
        type=click.IntRange(min=1, max=MAX_COUNT),
        default=default,
        show_default=True,
        help=help,
    )


def seed_option(fn: F) -> F:
    # numpy's and random's generators take any seed that fits 32 bits
    return click.option(
        "--seed",
        type=click.IntRange(0, 2**32 - 1),
        default=0,
        show_default=True,
        help="Random seed (same seed, same files).",
    )(fn)
