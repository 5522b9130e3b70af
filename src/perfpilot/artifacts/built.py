"""The derived artifacts in the cache (built-in models, stand-ins, compiled modules,
preprocessed arrays) for ``cache list`` and ``cache rm``: found by their manifests, which
the derived builder writes last (so an entry listed here is a complete one)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.artifacts.derived import SCHEMA_VERSION, discard, lock_path
from perfpilot.artifacts.files import cache_dir, file_lock

#: The file names the derived builder's callers give their manifests.
MANIFEST_NAMES = ("manifest.json", "meta.json", "build.json")


@dataclass(frozen=True)
class BuiltEntry:
    """One complete derived entry: its artifact name, folder, manifest file and facts."""

    artifact: str
    folder: str
    manifest: str
    size: int
    sha256: str
    created: str
    source: str

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


def _entry(path: Path) -> BuiltEntry | None:
    try:
        record: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION:
        return None
    if not isinstance(record.get("artifact"), str) or not isinstance(record.get("files"), dict):
        return None
    return BuiltEntry(
        artifact=record["artifact"],
        folder=str(path.parent),
        manifest=path.name,
        size=int(record.get("size") or 0),
        sha256=str(record.get("sha256") or ""),
        created=str(record.get("created") or "-"),
        source=str(record.get("source") or "built by perfpilot"),
    )


def list_built(root: Path | None = None) -> list[BuiltEntry]:
    """Every complete derived entry below the cache folder (the download store aside),
    by artifact name and folder."""
    base = root or cache_dir()
    found: list[BuiltEntry] = []
    for folder, dirs, files in os.walk(base):
        here = Path(folder)
        # the store has its own manifests; build folders are work in progress
        dirs[:] = [d for d in dirs if not d.startswith(".") and here / d != base / "store"]
        for name in MANIFEST_NAMES:
            if name in files and (entry := _entry(here / name)) is not None:
                found.append(entry)
    return sorted(found, key=lambda e: (e.artifact, e.folder))


def matches(entry: BuiltEntry, what: str) -> bool:
    """Whether ``what`` names this entry: its artifact name, or a prefix (6 or more hex
    digits) of its hash."""
    if what == entry.artifact:
        return True
    return len(what) >= 6 and bool(entry.sha256) and entry.sha256.startswith(what.lower())


def remove(entry: BuiltEntry) -> None:
    """Delete one derived entry: the manifest first (under the builders' lock, so it stops
    counting at once), then its folder."""
    folder = Path(entry.folder)
    with file_lock(lock_path(folder)):
        discard(folder, entry.manifest)
        shutil.rmtree(folder, ignore_errors=True)
