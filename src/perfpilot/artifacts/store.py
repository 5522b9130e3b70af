"""The content-addressed artifact store: its layout, manifests, and adding or reading entries.

Layout under ``cache_dir()/"store"``::

    objects/<sha256[:2]>/<sha256>   the files, named by their hash, read-only
    manifests/<name>.json           one per artifact name: source, checksums, size, time
    tmp/<name>.part                 downloads in progress (resumed with a Range request)
    locks/<name>.lock, locks/store.lock
    quarantine/                     objects that failed ``verify``, kept for inspection

An artifact counts as present only once its manifest exists: the object is moved into
place first and the manifest is written last, atomically. One lock per name keeps two
processes from downloading the same artifact; a store-wide lock, held only for the short
commit step, keeps ``gc`` and ``verify`` from seeing an object whose manifest is not
written yet. Downloads are in ``download.py``, ``verify`` and ``gc`` in ``maintenance.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from perfpilot.artifacts.files import atomic_write_text, cache_dir, file_lock, utc_timestamp
from perfpilot.errors import CacheError, ChecksumError, UsageError

SCHEMA_VERSION: Literal[1] = 1
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_MAX_NAME = 200
CHUNK = 1 << 20


class Manifest(BaseModel):
    """What the store knows about one artifact; stored as ``manifests/<name>.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    source: str
    sha256: str
    md5: str | None = None
    size: int
    fetched: str


@dataclass(frozen=True)
class Digests:
    """A file's checksums and size, from one pass over its bytes."""

    sha256: str
    md5: str
    size: int


# --- layout ---------------------------------------------------------------------------


def store_root() -> Path:
    """The store's folder: ``cache_dir()/"store"``."""
    return cache_dir() / "store"


def object_path(sha256: str) -> Path:
    """Where the object with this hash is (or would be) stored."""
    return store_root() / "objects" / sha256[:2] / sha256


def manifest_path(name: str) -> Path:
    """The manifest file of artifact ``name``."""
    return store_root() / "manifests" / f"{name}.json"


def part_path(name: str) -> Path:
    """The partial download (or staged copy) of artifact ``name``."""
    return store_root() / "tmp" / f"{name}.part"


def lock_path(name: str) -> Path:
    """The lock held while artifact ``name`` is downloaded or added."""
    return store_root() / "locks" / f"{name}.lock"


@contextlib.contextmanager
def store_lock() -> Iterator[None]:
    """The store-wide lock: held while an entry is committed, verified or collected."""
    with file_lock(store_root() / "locks" / "store.lock"):
        yield


# --- input checks ---------------------------------------------------------------------


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid artifact name, else raise :class:`UsageError`."""
    if len(name) > _MAX_NAME or not NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid artifact name {name!r}",
            hint="Use lower-case letters, digits, '.', '_' and '-', starting with a letter "
            "or digit, like resnet50-onnx-fp32",
        )
    return name


def check_hex(value: str | None, algo: str, digits: int) -> str | None:
    """A checksum in lower case, or :class:`UsageError` if it is not ``digits`` hex digits."""
    if value is None:
        return None
    text = value.strip().lower()
    if len(text) != digits or not re.fullmatch(r"[0-9a-f]+", text):
        raise UsageError(
            f"{algo} checksum {value!r} is not valid",
            hint=f"Give {digits} hexadecimal digits",
        )
    return text


def add_command(name: str, sha256: str | None, md5: str | None) -> str:
    """The ``perfpilot cache add`` command line that stores a file as ``name``."""
    cmd = f"perfpilot cache add FILE --as {name}"
    if sha256:
        cmd += f" --sha256 {sha256}"
    if md5:
        cmd += f" --md5 {md5}"
    return cmd


# --- manifests ------------------------------------------------------------------------


def load_manifest(path: Path) -> Manifest:
    """Read and validate one manifest; :class:`CacheError` if it cannot be used."""
    hint = "Run 'perfpilot cache verify' to move it aside, then fetch or add the artifact again"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CacheError(f"cannot read manifest {path}: {err}", hint=hint) from err
    if not isinstance(data, dict):
        raise CacheError(f"manifest {path} is not a JSON object", hint=hint)
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise CacheError(
            f"manifest {path} has schema_version {version}, newer than this perfpilot "
            f"understands ({SCHEMA_VERSION})",
            hint="Upgrade perfpilot, or point PERFPILOT_CACHE at another folder",
        )
    # Upgrades of older schema versions go here, one step at a time (update_to_2, ...).
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise CacheError(f"manifest {path}: {where}: {first['msg']}", hint=hint) from err
    if manifest.name != path.stem:
        raise CacheError(f"manifest {path} names another artifact ({manifest.name!r})", hint=hint)
    return manifest


def _manifest_or_none(name: str) -> Manifest | None:
    """The manifest of ``name``, or None if there is none or it cannot be used."""
    path = manifest_path(name)
    if not path.is_file():
        return None
    try:
        return load_manifest(path)
    except CacheError:
        return None


def manifest_files() -> list[Path]:
    """Every manifest file in the store, by name."""
    folder = store_root() / "manifests"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


# --- hashing and committing -----------------------------------------------------------


def digests(path: Path) -> Digests:
    """The sha256, md5 and size of the file ``path``."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return Digests(sha.hexdigest(), md5.hexdigest(), size)


def _copy_hashing(src: Path, dst: Path) -> Digests:
    """Copy ``src`` to ``dst`` and hash what was written, in one pass."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(CHUNK):
            fout.write(block)
            sha.update(block)
            md5.update(block)
            size += len(block)
        fout.flush()
        os.fsync(fout.fileno())
    return Digests(sha.hexdigest(), md5.hexdigest(), size)


def mismatch(got: Digests, sha256: str | None, md5: str | None) -> str | None:
    """What differs from the expected checksums, or None when all given ones match."""
    if sha256 and got.sha256 != sha256:
        return f"expected sha256 {sha256}, got {got.sha256}"
    if md5 and got.md5 != md5:
        return f"expected md5 {md5}, got {got.md5}"
    return None


def commit(staged: Path, name: str, source: str, digests: Digests) -> Path:
    """Move a checked file into ``objects/`` and write its manifest, in that order."""
    obj = object_path(digests.sha256)
    with store_lock():
        obj.parent.mkdir(parents=True, exist_ok=True)
        # Objects are read-only so that a program given path() cannot change them by accident.
        os.chmod(staged, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        # Replace even an existing object: the fresh, checked copy is known to be good.
        os.replace(staged, obj)
        manifest = Manifest(
            name=name,
            source=source,
            sha256=digests.sha256,
            md5=digests.md5,
            size=digests.size,
            fetched=utc_timestamp(),
        )
        atomic_write_text(manifest_path(name), manifest.model_dump_json(indent=2) + "\n")
    return obj


def lookup(name: str, sha256: str | None, md5: str | None) -> Path | None:
    """The object of a complete entry for ``name`` matching the expected checksums."""
    manifest = _manifest_or_none(name)
    if manifest is None:
        return None
    obj = object_path(manifest.sha256)
    try:
        if obj.stat().st_size != manifest.size:
            return None
    except FileNotFoundError:
        return None
    if sha256 and manifest.sha256 != sha256:
        return None
    if md5:
        known = manifest.md5 if manifest.md5 is not None else digests(obj).md5
        if known != md5:
            return None
    return obj


# --- operations -----------------------------------------------------------------------


def add(file: Path | str, name: str, sha256: str | None = None, md5: str | None = None) -> Path:
    """Store a file obtained elsewhere as artifact ``name`` and return the stored path.

    The file is copied (the original stays) and the copy is checked against ``sha256``
    and/or ``md5`` when given; on a mismatch nothing is stored. An existing entry of the
    same name is replaced (its old object goes at the next ``gc``).
    """
    check_name(name)
    sha256, md5 = check_hex(sha256, "sha256", 64), check_hex(md5, "md5", 32)
    src = Path(file).expanduser()
    if not src.is_file():
        what = "a folder, not a file" if src.is_dir() else "no such file"
        raise UsageError(f"cannot add {src}: {what}", hint="Give the path of a file")
    with file_lock(lock_path(name)):
        staged = part_path(name)
        try:
            got = _copy_hashing(src, staged)
            problem = mismatch(got, sha256, md5)
            if problem:
                raise ChecksumError(
                    f"checksum mismatch for {src} (to be added as '{name}'): {problem}",
                    hint="Nothing was stored; check that this is the right file",
                )
            return commit(staged, name, f"file:{src.resolve()}", got)
        finally:
            staged.unlink(missing_ok=True)


def entry(name: str) -> Manifest:
    """The manifest of artifact ``name``; :class:`UsageError` if it is not stored."""
    check_name(name)
    manifest = manifest_path(name)
    if not manifest.is_file():
        raise UsageError(
            f"no artifact '{name}' in the cache ({store_root()})",
            hint=f"Add a file you have with: {add_command(name, None, None)} "
            "('perfpilot cache list' shows what is stored)",
        )
    return load_manifest(manifest)


def path(name: str) -> Path:
    """The stored file of artifact ``name``; :class:`UsageError` if it is not stored."""
    obj = object_path(entry(name).sha256)
    if not obj.is_file():
        raise UsageError(
            f"artifact '{name}' is listed but its file {obj} is missing",
            hint="Run 'perfpilot cache verify' to drop the entry, then fetch or add it again",
        )
    return obj


def list_entries() -> list[Manifest]:
    """The manifests of all stored artifacts, by name."""
    return [load_manifest(p) for p in manifest_files()]
