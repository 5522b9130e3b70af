"""The content-addressed artifact store: fetch, add, list, verify and collect garbage.

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
written yet.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from perfpilot import __version__
from perfpilot.artifacts.store import atomic_write_text, cache_dir, file_lock, sha256_file
from perfpilot.errors import CacheError, ChecksumError, DownloadError, UsageError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

SCHEMA_VERSION: Literal[1] = 1
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_MAX_NAME = 200
_TRIES = 4  # one try plus three retries for a cut connection, a timeout or a 5xx
_BACKOFF_S = 0.5  # doubled after every failed try
_TIMEOUT_S = 30.0  # per blocking socket operation, not for the whole download
_CHUNK = 1 << 20
_RETRY_STATUS = {408, 425, 429}
_OFFLINE_ENV = "PERFPILOT_OFFLINE"


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


@dataclass(frozen=True)
class _Digests:
    sha256: str
    md5: str
    size: int


# --- layout ---------------------------------------------------------------------------


def store_root() -> Path:
    """The store's folder: ``cache_dir()/"store"``."""
    return cache_dir() / "store"


def _object_path(sha256: str) -> Path:
    return store_root() / "objects" / sha256[:2] / sha256


def _manifest_path(name: str) -> Path:
    return store_root() / "manifests" / f"{name}.json"


def _part_path(name: str) -> Path:
    return store_root() / "tmp" / f"{name}.part"


def _lock_path(name: str) -> Path:
    return store_root() / "locks" / f"{name}.lock"


@contextlib.contextmanager
def _store_lock() -> Iterator[None]:
    with file_lock(store_root() / "locks" / "store.lock"):
        yield


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[bool]:
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


def _check_hex(value: str | None, algo: str, digits: int) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    if len(text) != digits or not re.fullmatch(r"[0-9a-f]+", text):
        raise UsageError(
            f"{algo} checksum {value!r} is not valid",
            hint=f"Give {digits} hexadecimal digits",
        )
    return text


def _is_offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get(_OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _add_command(name: str, sha256: str | None, md5: str | None) -> str:
    cmd = f"perfpilot cache add FILE --as {name}"
    if sha256:
        cmd += f" --sha256 {sha256}"
    if md5:
        cmd += f" --md5 {md5}"
    return cmd


# --- manifests ------------------------------------------------------------------------


def _load_manifest(path: Path) -> Manifest:
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
    path = _manifest_path(name)
    if not path.is_file():
        return None
    try:
        return _load_manifest(path)
    except CacheError:
        return None


def _manifest_files() -> list[Path]:
    folder = store_root() / "manifests"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- hashing and committing -----------------------------------------------------------


def _digests(path: Path) -> _Digests:
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return _Digests(sha.hexdigest(), md5.hexdigest(), size)


def _copy_hashing(src: Path, dst: Path) -> _Digests:
    """Copy ``src`` to ``dst`` and hash what was written, in one pass."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(_CHUNK):
            fout.write(block)
            sha.update(block)
            md5.update(block)
            size += len(block)
        fout.flush()
        os.fsync(fout.fileno())
    return _Digests(sha.hexdigest(), md5.hexdigest(), size)


def _mismatch(got: _Digests, sha256: str | None, md5: str | None) -> str | None:
    if sha256 and got.sha256 != sha256:
        return f"expected sha256 {sha256}, got {got.sha256}"
    if md5 and got.md5 != md5:
        return f"expected md5 {md5}, got {got.md5}"
    return None


def _commit(staged: Path, name: str, source: str, digests: _Digests) -> Path:
    """Move a checked file into ``objects/`` and write its manifest, in that order."""
    obj = _object_path(digests.sha256)
    with _store_lock():
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
            fetched=_now(),
        )
        atomic_write_text(_manifest_path(name), manifest.model_dump_json(indent=2) + "\n")
    return obj


def _cached(name: str, sha256: str | None, md5: str | None) -> Path | None:
    """The object of a complete entry for ``name`` matching the expected checksums."""
    manifest = _manifest_or_none(name)
    if manifest is None:
        return None
    obj = _object_path(manifest.sha256)
    try:
        if obj.stat().st_size != manifest.size:
            return None
    except FileNotFoundError:
        return None
    if sha256 and manifest.sha256 != sha256:
        return None
    if md5:
        known = manifest.md5 if manifest.md5 is not None else _digests(obj).md5
        if known != md5:
            return None
    return obj


# --- download -------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth another try: a cut connection, a timeout, a 5xx answer."""


class _Bar:
    """A rich progress bar on stderr when stderr is a terminal, and nothing otherwise."""

    def __init__(self, label: str) -> None:
        from rich.console import Console

        self._progress: Progress | None = None
        self._task: TaskID | None = None
        console = Console(stderr=True)
        if console.is_terminal:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self._task = self._progress.add_task(f"fetching {label}", total=None)

    def __enter__(self) -> _Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def reset(self, total: int | None, completed: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total, completed=completed)

    def advance(self, n: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``bytes 100-199/200`` or ``bytes */200``."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _transfer(name: str, url: str, part: Path, bar: _Bar, add_cmd: str) -> None:
    """One try: bring ``part`` up to the whole file, continuing from what it holds."""
    import http.client
    import urllib.error
    import urllib.request

    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"perfpilot/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S
        )
    except urllib.error.HTTPError as err:
        with err:
            if err.code == 416 and offset:
                _, total = _content_range(err.headers.get("Content-Range"))
                if total == offset:  # the partial file is already whole
                    return
                part.unlink(missing_ok=True)
                raise _Transient(
                    "the partial download does not fit the file on the server"
                ) from err
            if err.code in _RETRY_STATUS or err.code >= 500:
                raise _Transient(f"HTTP {err.code} {err.reason}") from err
            raise DownloadError(
                f"cannot download '{name}' from {url}: HTTP {err.code} {err.reason}",
                hint=f"Check the URL, or add a copy you have with: {add_cmd}",
            ) from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        raise _Transient(str(reason) or type(err).__name__) from err

    with resp:
        mode = "wb"
        if offset and resp.status == 206:
            start, _ = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Transient(f"the server sent bytes from {start}, not from {offset}")
            mode = "ab"
        else:
            offset = 0  # a 200 answer carries the whole file: start again from its first byte
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.strip().isdigit() else None
        bar.reset(offset + expected if expected is not None else None, offset)
        received = 0
        with open(part, mode) as fh:
            while True:
                try:
                    block = resp.read(_CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise _Transient(
                        f"connection lost after {offset + received} bytes: {err!r}"
                    ) from err
                if not block:
                    break
                fh.write(block)
                received += len(block)
                bar.advance(len(block))
            fh.flush()
            os.fsync(fh.fileno())
    if expected is not None and received < expected:
        raise _Transient(
            f"connection closed after {offset + received} of {offset + expected} bytes"
        )


def _download(name: str, url: str, part: Path, add_cmd: str) -> None:
    """Download ``url`` into ``part``, resuming after cut connections, retrying a few times."""
    part.parent.mkdir(parents=True, exist_ok=True)
    last: _Transient | None = None
    with _Bar(name) as bar:
        for attempt in range(_TRIES):
            if attempt:
                time.sleep(_BACKOFF_S * 2 ** (attempt - 1))
            try:
                _transfer(name, url, part, bar, add_cmd)
                return
            except _Transient as err:
                last = err
    kept = part.stat().st_size if part.is_file() else 0
    first = (
        f"The {kept} bytes received are kept and the next fetch resumes from there"
        if kept
        else "Check the network and try again"
    )
    raise DownloadError(
        f"cannot download '{name}' from {url} after {_TRIES} tries: {last}",
        hint=f"{first}; or add a copy you have with: {add_cmd}",
    ) from last


# --- operations -----------------------------------------------------------------------


def fetch(
    name: str,
    url: str,
    sha256: str | None = None,
    md5: str | None = None,
    offline: bool | None = None,
) -> Path:
    """Return the stored file of artifact ``name``, downloading it from ``url`` if needed.

    A complete entry whose checksums match is returned without any network access. A
    download resumes a partial file left by an earlier try, and is checked against
    ``sha256`` and/or ``md5`` before it is stored; on a mismatch nothing is kept. Two
    processes fetching one name download it once. ``offline`` (default: environment
    ``PERFPILOT_OFFLINE=1``) fails at once for an artifact that is not stored.
    """
    check_name(name)
    sha256, md5 = _check_hex(sha256, "sha256", 64), _check_hex(md5, "md5", 32)
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            f"cannot fetch '{name}' from {url!r}: only http:// and https:// URLs are supported",
            hint=f"For a local file use: {_add_command(name, sha256, md5)}",
        )
    hit = _cached(name, sha256, md5)
    if hit is not None:
        return hit
    if _is_offline(offline):
        raise UsageError(
            f"artifact '{name}' is not in the cache ({store_root()}) and offline mode is on, "
            f"so it was not downloaded from {url}",
            hint=f"Get the file another way and add it with: {_add_command(name, sha256, md5)}",
        )
    with file_lock(_lock_path(name)):
        hit = _cached(name, sha256, md5)  # another process may have fetched it meanwhile
        if hit is not None:
            return hit
        part = _part_path(name)
        resumed = part.is_file() and part.stat().st_size > 0
        _download(name, url, part, _add_command(name, sha256, md5))
        digests = _digests(part)
        problem = _mismatch(digests, sha256, md5)
        if problem and resumed:
            # The partial file may be left from another version of the file: once more, whole.
            part.unlink(missing_ok=True)
            _download(name, url, part, _add_command(name, sha256, md5))
            digests = _digests(part)
            problem = _mismatch(digests, sha256, md5)
        if problem:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"checksum mismatch for '{name}' downloaded from {url}: {problem}",
                hint="Nothing was stored; check the URL and the expected checksum",
            )
        return _commit(part, name, url, digests)


def add(file: Path | str, name: str, sha256: str | None = None, md5: str | None = None) -> Path:
    """Store a file obtained elsewhere as artifact ``name`` and return the stored path.

    The file is copied (the original stays) and the copy is checked against ``sha256``
    and/or ``md5`` when given; on a mismatch nothing is stored. An existing entry of the
    same name is replaced (its old object goes at the next :func:`gc`).
    """
    check_name(name)
    sha256, md5 = _check_hex(sha256, "sha256", 64), _check_hex(md5, "md5", 32)
    src = Path(file).expanduser()
    if not src.is_file():
        raise UsageError(f"cannot add {src}: no such file", hint="Give the path of a file")
    with file_lock(_lock_path(name)):
        staged = _part_path(name)
        try:
            digests = _copy_hashing(src, staged)
            problem = _mismatch(digests, sha256, md5)
            if problem:
                raise ChecksumError(
                    f"checksum mismatch for {src} (to be added as '{name}'): {problem}",
                    hint="Nothing was stored; check that this is the right file",
                )
            return _commit(staged, name, f"file:{src.resolve()}", digests)
        finally:
            staged.unlink(missing_ok=True)


def entry(name: str) -> Manifest:
    """The manifest of artifact ``name``; :class:`UsageError` if it is not stored."""
    check_name(name)
    manifest = _manifest_path(name)
    if not manifest.is_file():
        raise UsageError(
            f"no artifact '{name}' in the cache ({store_root()})",
            hint=f"Add a file you have with: {_add_command(name, None, None)} "
            "('perfpilot cache list' shows what is stored)",
        )
    return _load_manifest(manifest)


def path(name: str) -> Path:
    """The stored file of artifact ``name``; :class:`UsageError` if it is not stored."""
    obj = _object_path(entry(name).sha256)
    if not obj.is_file():
        raise UsageError(
            f"artifact '{name}' is listed but its file {obj} is missing",
            hint="Run 'perfpilot cache verify' to drop the entry, then fetch or add it again",
        )
    return obj


def list_entries() -> list[Manifest]:
    """The manifests of all stored artifacts, by name."""
    return [_load_manifest(p) for p in _manifest_files()]


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
    with _store_lock():
        by_sha: dict[str, list[Path]] = {}
        for mpath in _manifest_files():
            try:
                manifest = _load_manifest(mpath)
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
            obj = _object_path(sha)
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
    with _store_lock():
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
                with _try_lock(_lock_path(name)) as free:
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
