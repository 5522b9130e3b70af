"""Fetching into the artifact store: mirrors tried in turn, resumed transfers, checksums
checked before anything is stored, a progress bar on a terminal.

A download goes to ``tmp/<name>.part`` under the artifact's lock and is committed to the
store (object first, manifest last) only once its checksums match; a cut connection keeps
the bytes received, and the next try continues from there with a Range request.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from perfpilot import __version__
from perfpilot.artifacts.files import file_lock
from perfpilot.artifacts.store import (
    CHUNK,
    add_command,
    check_hex,
    check_name,
    commit,
    digests,
    lock_path,
    lookup,
    mismatch,
    part_path,
    store_root,
)
from perfpilot.errors import ChecksumError, DownloadError, UsageError, disk_full, free_bytes

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

_TRIES = 4  # one try plus three retries for a cut connection, a timeout or a 5xx
_BACKOFF_S = 0.5  # doubled after every failed try
_TIMEOUT_S = 30.0  # per blocking socket operation, not for the whole download
_RETRY_STATUS = {408, 425, 429}
_OFFLINE_ENV = "PERFPILOT_OFFLINE"


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


def _is_offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get(_OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


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
        free = free_bytes(part.parent)
        if expected is not None and free is not None and free < expected:
            raise disk_full(part, expected)  # before a byte is written, not at 90%
        bar.reset(offset + expected if expected is not None else None, offset)
        received = 0
        with open(part, mode) as fh:
            while True:
                try:
                    block = resp.read(CHUNK)
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
    sha256, md5 = check_hex(sha256, "sha256", 64), check_hex(md5, "md5", 32)
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            f"cannot fetch '{name}' from {url!r}: only http:// and https:// URLs are supported",
            hint=f"For a local file use: {add_command(name, sha256, md5)}",
        )
    hit = lookup(name, sha256, md5)
    if hit is not None:
        return hit
    if _is_offline(offline):
        raise UsageError(
            f"artifact '{name}' is not in the cache ({store_root()}) and offline mode is on, "
            f"so it was not downloaded from {url}",
            hint=f"Get the file another way and add it with: {add_command(name, sha256, md5)}",
        )
    with file_lock(lock_path(name)):
        hit = lookup(name, sha256, md5)  # another process may have fetched it meanwhile
        if hit is not None:
            return hit
        part = part_path(name)
        resumed = part.is_file() and part.stat().st_size > 0
        _download(name, url, part, add_command(name, sha256, md5))
        got = digests(part)
        problem = mismatch(got, sha256, md5)
        if problem and resumed:
            # The partial file may be left from another version of the file: once more, whole.
            part.unlink(missing_ok=True)
            _download(name, url, part, add_command(name, sha256, md5))
            got = digests(part)
            problem = mismatch(got, sha256, md5)
        if problem:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"checksum mismatch for '{name}' downloaded from {url}: {problem}",
                hint="Nothing was stored; check the URL and the expected checksum",
            )
        return commit(part, name, url, got)


def fetch_from_mirrors(
    name: str,
    urls: Sequence[str],
    sha256: str | None = None,
    md5: str | None = None,
    offline: bool | None = None,
    label: str | None = None,
) -> Path:
    """:func:`fetch` from the first of ``urls`` that answers; a mirror that cannot be
    downloaded from is skipped, a checksum mismatch is not. ``label`` names the file in
    the error when every mirror failed (default: ``name``)."""
    failures = []
    for url in urls:
        try:
            return fetch(name, url, sha256=sha256, md5=md5, offline=offline)
        except DownloadError as err:  # this mirror is unreachable: try the next
            failures.append(err.message.rstrip("."))  # the fix is said once, below
    raise UsageError(
        f"could not download {label or name!r} from any of its {len(urls)} mirrors "
        f"({'; '.join(failures)})",
        f"Check the network and try again, or download it elsewhere and add it with: "
        f"{add_command(name, sha256, md5)}",
    )
