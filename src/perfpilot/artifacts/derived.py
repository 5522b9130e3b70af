"""Derived artifacts (built-in models trained or generated here, converted and compiled
models, quantized IR, preprocessed arrays): built once per key, then reused, safely
across concurrent processes.

One entry is one folder, chosen by the caller (its path usually holds the key's hash, so
each cache keeps its own layout)::

    <folder>/<payload>...        what the build made, moved in from its build folder
    <folder>/<manifest>          written last: schema_version, artifact, the key's fields,
                                 what the build reported, and every file's size and sha256
    <folder>/.build-XXXXXXXX/    a build in progress (same file system: moving in is a rename)
    <folder.parent>/.<folder.name>.lock

An entry counts only when its manifest has this schema version, the artifact's name and
the key's values, and every file it lists is there with its recorded size (and, with
``verify``, its recorded sha256). Anything else is built again: the manifest goes first,
so the old copy stops counting at once, then everything in the folder except ``keep``.
A build that fails leaves an empty folder (and what ``keep`` names).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from perfpilot.artifacts.files import (
    atomic_write_text,
    file_lock,
    sha256_file,
    tree_digest,
    utc_timestamp,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION: Literal[1] = 1
MANIFEST = "manifest.json"
_BUILD_PREFIX = ".build-"
#: Manifest fields the builder writes; a key or a build's report may not use them.
_OWN = frozenset(
    {"schema_version", "artifact", "files", "sha256", "size", "created", "build_seconds"}
)

#: Makes the payload inside the folder it is given and returns facts to record (or None).
Build = Callable[[Path], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Derived:
    """A ready derived artifact: its payload's path, whether this call built it, and its
    manifest as recorded."""

    path: Path
    built: bool
    manifest: Mapping[str, Any]


def build_once(
    folder: Path,
    payload: str,
    build: Build,
    *,
    artifact: str,
    key: Mapping[str, Any] | None = None,
    verify: bool = True,
    manifest: str = MANIFEST,
    keep: Collection[str] = (),
) -> Derived:
    """The entry in ``folder`` whose payload is ``folder/payload`` (a file or a folder),
    built by ``build`` unless a complete one for ``artifact`` and ``key`` is there.

    ``build(tmp)`` writes the payload (and any other files) into the empty folder ``tmp``
    and returns facts for the manifest (source, versions, counts); ``key`` holds what
    determines the result and is compared on every reuse. ``verify`` re-hashes the files
    on every reuse (leave it off for arrays of many GB: then sizes are checked). ``keep``
    names things in ``folder`` that survive a rebuild, such as records that the build
    itself reuses; anything else in ``folder`` belongs to the entry and goes on a rebuild.
    Processes that ask for one entry together wait on its lock, and all but the first
    find it built.
    """
    wanted = _plain(key or {}, "key")
    found = ready(folder, payload, artifact=artifact, key=wanted, verify=verify, manifest=manifest)
    if found is not None:
        return Derived(folder / payload, False, found)
    with file_lock(lock_path(folder)):
        found = ready(
            folder, payload, artifact=artifact, key=wanted, verify=verify, manifest=manifest
        )
        if found is not None:  # built by another process while this one waited
            return Derived(folder / payload, False, found)
        if (folder / manifest).exists():
            log.warning("%s in %s does not match its manifest; rebuilding", artifact, folder)
        record = _build(folder, payload, build, artifact, wanted, verify, manifest, keep)
    return Derived(folder / payload, True, record)


def ready(
    folder: Path,
    payload: str,
    *,
    artifact: str,
    key: Mapping[str, Any] | None = None,
    verify: bool = True,
    manifest: str = MANIFEST,
) -> dict[str, Any] | None:
    """The manifest of the complete entry in ``folder``, or None when there is none, it
    is of another schema version, artifact or key, or a file it lists is missing or
    changed (``key`` None: any key)."""
    try:
        record = json.loads((folder / manifest).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("schema_version") != SCHEMA_VERSION or record.get("artifact") != artifact:
        return None
    for name, value in _plain(key or {}, "key").items():
        if record.get(name) != value:
            return None
    files = record.get("files")
    if not isinstance(files, dict) or not (folder / payload).exists():
        return None
    if not any(rel == payload or rel.startswith(f"{payload}/") for rel in files):
        return None
    for rel, facts in files.items():
        if not isinstance(facts, dict):
            return None
        path = folder / rel
        try:
            if not path.is_file() or path.stat().st_size != facts.get("size"):
                return None
            if verify and sha256_file(path) != facts.get("sha256"):
                return None
        except OSError:
            return None
    return record


def discard(folder: Path, manifest: str = MANIFEST) -> None:
    """Make the entry in ``folder`` stop counting (its files go at the next build)."""
    (folder / manifest).unlink(missing_ok=True)


def lock_path(folder: Path) -> Path:
    """The lock that builders of the entry in ``folder`` hold, beside the folder."""
    return folder.parent / f".{folder.name}.lock"


def _build(
    folder: Path,
    payload: str,
    build: Build,
    artifact: str,
    key: dict[str, Any],
    verify: bool,
    manifest: str,
    keep: Collection[str],
) -> dict[str, Any]:
    """Build into a temporary folder, move the files in, write the manifest last."""
    discard(folder, manifest)
    _clear(folder, keep)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=_BUILD_PREFIX, dir=folder))
    moved: list[Path] = []
    try:
        info = _plain(build(tmp) or {}, "build info")
        if clash := sorted(set(info) & set(key)):
            raise ValueError(f"the build of {artifact} reports key fields: {clash}")
        if not (tmp / payload).exists():
            raise RuntimeError(f"the build of {artifact} made no {payload}")
        files = _describe(tmp, verify)
        record: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "artifact": artifact,
            **key,
            **info,
            "files": files,
            "size": sum(f["size"] for f in files.values()),
        }
        if verify:
            record["sha256"] = _payload_sha256(files, payload)
        for item in sorted(tmp.iterdir()):
            target = folder / item.name
            if target.exists() or target.is_symlink():
                raise RuntimeError(f"the build of {artifact} made {item.name}, which is kept")
            item.rename(target)
            moved.append(target)
        record["created"] = utc_timestamp()
        record["build_seconds"] = round(time.monotonic() - started, 2)
        atomic_write_text(folder / manifest, json.dumps(record, indent=2) + "\n")
    except BaseException:
        for target in moved:
            _remove(target)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return record


def _describe(tmp: Path, verify: bool) -> dict[str, dict[str, Any]]:
    """Every file under ``tmp``: its size, and its sha256 when ``verify``."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        facts: dict[str, Any] = {"size": path.stat().st_size}
        if verify:
            facts["sha256"] = sha256_file(path)
        files[path.relative_to(tmp).as_posix()] = facts
    return files


def _payload_sha256(files: Mapping[str, Mapping[str, Any]], payload: str) -> str:
    """A file payload's sha256, or a folder's ``tree_sha256`` (from the files' hashes)."""
    if payload in files:
        return str(files[payload]["sha256"])
    inside = f"{payload}/"
    return tree_digest(
        (rel.removeprefix(inside), str(facts["sha256"]))
        for rel, facts in files.items()
        if rel.startswith(inside)
    )


def _clear(folder: Path, keep: Collection[str]) -> None:
    """Remove what an earlier or interrupted build left in ``folder``, except ``keep``."""
    if not folder.is_dir():
        return
    for item in folder.iterdir():
        if item.name not in keep:
            _remove(item)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _plain(fields: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``fields`` as JSON gives them back (tuples become lists), so that a key compares
    equal to its recorded copy; names the builder writes itself are refused."""
    if clash := sorted(set(fields) & _OWN):
        raise ValueError(f"the {what} uses names the manifest keeps for itself: {clash}")
    plain: dict[str, Any] = json.loads(json.dumps(dict(fields)))
    return plain
