"""File rules: names, links and sizes of everything under a submitter folder, and the
files each result folder must (and may only) hold."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from perfpilot.safepaths import walk
from perfpilot.submission.check.context import Context
from perfpilot.submission.check.findings import ERROR
from perfpilot.submission.tree import files, is_dir

REQUIRED_ACC_FILES = (
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "accuracy.txt",
    "mlperf_log_accuracy.json",
)
REQUIRED_PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
# The official checker lets a trace and results.json sit in any run folder.
OPTIONAL_ANY = ("mlperf_log_trace.json", "results.json")
OPTIONAL_ACC_FILES = OPTIONAL_ANY
OPTIONAL_PERF_FILES = ("mlperf_log_accuracy.json", *OPTIONAL_ANY)

# A folder rule gets the folder and what os.walk lists in it; a name rule gets one
# entry of a folder, with what the walk already learned of it (no second stat per file).
FolderRule = Callable[[Context, Path, list[str], list[str]], None]


@dataclass(frozen=True, slots=True)
class Entry:
    """One name os.walk lists in a folder."""

    folder: Path
    name: str
    is_file: bool  # listed as a file: plain files, and links and special files
    link: bool  # a symbolic link (never followed)
    size: int  # bytes of a plain file, else 0

    @property
    def path(self) -> Path:
        return self.folder / self.name


NameRule = Callable[[Context, Entry], None]


def empty_folder(ctx: Context, folder: Path, dirnames: list[str], filenames: list[str]) -> None:
    if not dirnames and not filenames:
        ctx.add("empty-folder", folder, "empty folder")


def hidden_name(ctx: Context, entry: Entry) -> None:
    if entry.name.startswith("."):
        ctx.add("hidden-file", entry.path, "hidden (dot) name")


def space_in_name(ctx: Context, entry: Entry) -> None:
    if " " in entry.name:
        ctx.add("space-in-name", entry.path, "space in the name")


def pycache(ctx: Context, entry: Entry) -> None:
    if entry.name == "__pycache__":
        ctx.add("pycache", entry.path, "__pycache__ folder")


def symlink_target(ctx: Context, entry: Entry) -> None:
    """Links are never followed: one pointing outside the tree or nowhere is reported."""
    if not entry.link:
        return
    path = entry.path
    real_root = ctx.root.resolve()
    target = Path(os.path.realpath(path))
    if target != real_root and real_root not in target.parents:
        ctx.add(
            "symlink-outside",
            path,
            f"symbolic link pointing outside the tree (to {os.readlink(path)}); not followed",
        )
    elif not target.exists():
        ctx.add("symlink-broken", path, "broken symbolic link")


def file_size(ctx: Context, entry: Entry) -> None:
    if entry.is_file and not entry.link and entry.size > int(ctx.common["max_file_bytes"]):
        ctx.add("file-too-large", entry.path, f"{entry.size} bytes (> 50 MB)")


FOLDER_RULES: tuple[FolderRule, ...] = (empty_folder,)
NAME_RULES: tuple[NameRule, ...] = (hidden_name, space_in_name, pycache, symlink_target, file_size)


def check_walk(ctx: Context, top: Path) -> None:
    """Apply the folder and name rules to everything under ``top`` (links not followed)."""
    for level in walk(top):
        here = level.folder
        # links and special files are never entered; the name rules still judge them
        others = [s.path for s in level.skipped if s.path.parent == here]
        for folder_rule in FOLDER_RULES:
            folder_rule(ctx, here, level.folders, level.files + [p.name for p in others])
        listed = [Entry(here, name, False, False, 0) for name in level.folders]
        listed += [Entry(here, name, True, False, level.sizes[name]) for name in level.files]
        listed += [Entry(here, p.name, True, p.is_symlink(), 0) for p in others]
        for entry in listed:
            for name_rule in NAME_RULES:
                name_rule(ctx, entry)


def check_folder_files(
    ctx: Context,
    folder: Path,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    strays: str = ERROR,
) -> None:
    """``folder`` holds every ``required`` file and nothing but those and ``optional``
    (another file is reported with severity ``strays``)."""
    if not is_dir(folder):
        ctx.add("missing-file", folder, "folder is missing")
        return
    names = {p.name for p in files(folder)}
    for name in required:
        if name not in names:
            ctx.add("missing-file", folder / name, f"{name} is missing")
    for name in sorted(names - set(required) - set(optional)):
        if not name.startswith("."):  # reported as hidden-file already
            ctx.add("stray-file", folder / name, "unexpected file", strays)
