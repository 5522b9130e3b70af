"""Cache location, atomic writes, hashing and inter-process locks."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path


def cache_dir() -> Path:
    """The artifact cache: ``$PERFPILOT_CACHE`` or the user's cache directory."""
    override = os.environ.get("PERFPILOT_CACHE")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("perfpilot"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def build_key(spec: object) -> str:
    """A short cache key for a frozen dataclass listing everything that determines a
    build (model hash, versions, target, ...): the sha256 of its fields as JSON."""
    import dataclasses
    import hashlib
    import json

    fields = dataclasses.asdict(spec)  # type: ignore[call-overload]
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    import hashlib  # here, as in the others: OpenSSL's start-up is for commands that hash

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_sha256(directory: Path) -> str:
    """One hash over every file's relative path and contents, in sorted order."""
    return tree_digest(
        (p.relative_to(directory).as_posix(), sha256_file(p))
        for p in directory.rglob("*")
        if p.is_file()
    )


def tree_digest(files: Iterable[tuple[str, str]]) -> str:
    """:func:`tree_sha256` from already known ``(relative path, hex sha256)`` pairs."""
    import hashlib

    h = hashlib.sha256()
    for rel, sha in sorted(files, key=lambda f: f[0].split("/")):  # as sorted Paths
        h.update(rel.encode() + b"\0")
        h.update(bytes.fromhex(sha))
    return h.hexdigest()


def utc_timestamp() -> str:
    """Now, as the ISO 8601 UTC time that manifests record."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Take the lock on ``path`` if nobody holds it; yields whether it was taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
