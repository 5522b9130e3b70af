"""Reading trees and list files that a user (or a stranger's submission) supplied, without
ever leaving them: no symbolic link is followed, no listed name may point outside.

Every command that walks a user's tree (results import, submission check, package,
truncate, dashboard build) walks it here, and reports what it left out and why."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from perfpilot.errors import UsageError


@dataclass(frozen=True)
class Skipped:
    """An entry of a tree that was not read, and why."""

    path: Path
    reason: str

    def line(self, root: Path | None = None) -> str:
        where = self.path
        if root is not None and self.path.is_relative_to(root):
            where = self.path.relative_to(root)
        return f"{where}: {self.reason}"


@dataclass
class Level:
    """One folder of a walk: its real sub-folders and plain files, and what was left out."""

    folder: Path
    folders: list[str]
    files: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # file name -> bytes, from the walk


def _why_not(path: Path, mode: int) -> str | None:
    """None for a plain file or folder, else why the entry is left out."""
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"symbolic link to {target}, not followed"
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return "not a plain file or folder (a device, pipe or socket), not read"


def walk(root: Path) -> Iterator[Level]:
    """Each folder under ``root`` (``root`` first, sorted, top-down): a caller may prune
    by removing names from ``Level.folders``. Links and special files are never entered or
    listed as files: they are in ``Level.skipped``. Unreadable folders are skipped too."""
    pending = [root]
    while pending:
        folder = pending.pop()
        level = Level(folder, [], [])
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            level.skipped.append(Skipped(folder, f"unreadable folder ({err.strerror})"))
            yield level
            continue
        for entry in entries:
            # no Path per entry: a published tree has thousands, and most are plain
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as err:
                level.skipped.append(Skipped(Path(entry.path), f"unreadable ({err.strerror})"))
                continue
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                level.folders.append(entry.name)
            elif stat.S_ISREG(mode):
                level.files.append(entry.name)
                level.sizes[entry.name] = info.st_size
            else:
                path = Path(entry.path)
                level.skipped.append(Skipped(path, _why_not(path, mode) or "not read"))
        yield level
        pending.extend(folder / name for name in reversed(level.folders))


@dataclass
class TreeFiles:
    """The plain files of a tree (sorted) and what was left out."""

    files: list[Path]
    skipped: list[Skipped]


def tree_files(root: Path) -> TreeFiles:
    """Every plain file under ``root``, never through a link."""
    out = TreeFiles([], [])
    for level in walk(root):
        out.files.extend(level.folder / name for name in level.files)
        out.skipped.extend(level.skipped)
    out.files.sort()
    return out


def plain_file(path: Path, root: Path | None = None) -> bool:
    """True for a plain file reached without a link: neither ``path`` nor a folder
    between ``root`` and it is a symbolic link (``root`` itself may be one)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    if root is None or not path.is_relative_to(root):
        return True
    here = root
    for part in path.relative_to(root).parts[:-1]:
        here = here / part
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return False
        except OSError:
            return False
    return True


def plain_folder(path: Path) -> bool:
    """A real folder (a link to one is not)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def listed_path(folder: Path, name: str, list_file: Path, where: int | str) -> Path:
    """``folder / name`` for a name read from ``list_file`` (line or entry ``where``);
    a usage error naming both when the name reaches outside ``folder`` (an absolute path,
    ``..``, or a link in the folder that leads out)."""
    pure = PurePosixPath(name.replace("\\", "/"))
    escapes = pure.is_absolute() or ".." in pure.parts or not name.strip()
    path = folder / name
    if not escapes:
        real_folder = os.path.realpath(folder)
        real = os.path.realpath(path)
        escapes = os.path.commonpath([real_folder, real]) != real_folder
    if escapes:
        raise UsageError(
            f"{list_file}:{where}: {name[:120]!r} names a file outside the dataset folder {folder}",
            "List files by their path inside the dataset folder; perfpilot opens nothing "
            "outside it.",
        )
    return path
