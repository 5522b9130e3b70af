"""Keeping the artifact store whole: ``verify`` re-hashes every object and takes damaged
entries out of use; ``gc`` deletes objects no manifest uses and abandoned temporary files;
``remove`` deletes one artifact."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perfpilot.artifacts.files import sha256_file, try_lock
from perfpilot.artifacts.store import (
    NAME_RE,
    entry,
    list_entries,
    load_manifest,
    lock_path,
    manifest_files,
    manifest_path,
    object_path,
    store_lock,
    store_root,
)
from perfpilot.errors import CacheError


@dataclass(frozen=True)
class Problem:
    """One damaged store entry that ``verify`` found and took out of use."""

    kind: Literal["corrupt object", "missing object", "unreadable manifest"]
    path: str
    names: tuple[str, ...]
    detail: str
    moved_to: str | None


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify`."""

    checked: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class GcReport:
    """The result of :func:`gc`."""

    objects: int
    tmp_files: int
    freed_bytes: int


def _quarantine(src: Path, label: str) -> Path:
    folder = store_root() / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{label}"
    dst, n = folder / stem, 1
    while dst.exists():
        dst, n = folder / f"{stem}-{n}", n + 1
    os.replace(src, dst)
    return dst


def _objects() -> list[Path]:
    folder = store_root() / "objects"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*/*") if p.is_file())


def verify() -> VerifyReport:
    """Re-hash every stored object; move corrupt ones to ``quarantine/``, drop their entries.

    Also drops manifests whose object is missing and moves unreadable manifests aside, so
    that afterwards every listed artifact is whole.
    """
    problems: list[Problem] = []
    objects = _objects()
    # Hash outside the store lock (it can take minutes); act under it, and only on objects
    # that were not replaced by a fresh commit in between.
    suspects: list[tuple[Path, os.stat_result, str]] = []
    for obj in objects:
        try:
            before = obj.stat()
            got = sha256_file(obj)
        except FileNotFoundError:  # removed by a concurrent gc
            continue
        if got != obj.name:
            suspects.append((obj, before, got))
    with store_lock():
        by_sha: dict[str, list[Path]] = {}
        for mpath in manifest_files():
            try:
                manifest = load_manifest(mpath)
            except CacheError as err:
                moved = _quarantine(mpath, mpath.name)
                problems.append(
                    Problem(
                        "unreadable manifest", str(mpath), (mpath.stem,), err.message, str(moved)
                    )
                )
                continue
            by_sha.setdefault(manifest.sha256, []).append(mpath)
        for obj, before, got in suspects:
            try:
                now = obj.stat()
            except FileNotFoundError:
                continue
            if (now.st_ino, now.st_mtime_ns) != (before.st_ino, before.st_mtime_ns):
                continue
            moved = _quarantine(obj, obj.name)
            users = by_sha.pop(obj.name, [])
            for mpath in users:
                mpath.unlink(missing_ok=True)
            problems.append(
                Problem(
                    "corrupt object",
                    str(obj),
                    tuple(sorted(m.stem for m in users)),
                    f"its content hashes to {got}",
                    str(moved),
                )
            )
        for sha, users in by_sha.items():
            obj = object_path(sha)
            if not obj.is_file():
                for mpath in users:
                    mpath.unlink(missing_ok=True)
                problems.append(
                    Problem(
                        "missing object",
                        str(obj),
                        tuple(sorted(m.stem for m in users)),
                        "the file is gone",
                        None,
                    )
                )
    return VerifyReport(checked=len(objects), problems=tuple(problems))


def gc() -> GcReport:
    """Delete objects that no manifest references and temporary files nobody is writing."""
    objects = tmp_files = freed = 0
    root = store_root()
    with store_lock():
        referenced = {m.sha256 for m in list_entries()}  # an unreadable manifest stops gc
        for obj in _objects():
            if obj.name not in referenced:
                freed += obj.stat().st_size
                obj.unlink()
                objects += 1
                with contextlib.suppress(OSError):
                    obj.parent.rmdir()  # only when empty
        tmp = root / "tmp"
        for leftover in sorted(tmp.iterdir()) if tmp.is_dir() else []:
            if not leftover.is_file():
                continue
            name = leftover.name.removesuffix(".part")
            if name != leftover.name and NAME_RE.fullmatch(name):
                with try_lock(lock_path(name)) as free:
                    if not free:  # its name's lock is held: a download or add is running
                        continue
                    freed += leftover.stat().st_size
                    leftover.unlink()
            else:
                freed += leftover.stat().st_size
                leftover.unlink()
            tmp_files += 1
        # Temporary files of interrupted manifest writes (those happen under the store lock).
        for leftover in (root / "manifests").glob(".*.tmp"):
            freed += leftover.stat().st_size
            leftover.unlink()
            tmp_files += 1
    return GcReport(objects=objects, tmp_files=tmp_files, freed_bytes=freed)


def remove(name: str) -> int:
    """Delete stored artifact ``name``: its manifest, then its object unless another
    artifact uses the same file. Returns the bytes freed (:class:`UsageError` if it is not
    stored)."""
    manifest = entry(name)
    with store_lock():
        manifest_path(name).unlink(missing_ok=True)
        if any(m.sha256 == manifest.sha256 for m in list_entries()):
            return 0
        obj = object_path(manifest.sha256)
        size = obj.stat().st_size if obj.is_file() else 0
        obj.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            obj.parent.rmdir()  # only when empty
    return size
