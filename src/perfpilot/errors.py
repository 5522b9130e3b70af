"""One error family. Each user-facing error says what is wrong, where, and what to do."""

from __future__ import annotations

import errno
import os


class PerfpilotError(Exception):
    """Root of perfpilot's errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        if not message:
            raise ValueError("a PerfpilotError needs a message")
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint on one line, as the CLI prints it."""
        text = self.message.rstrip(".")
        return f"{text}. {self.hint}" if self.hint else text


class UsageError(PerfpilotError):
    """Bad input from the user: an option, a name, a file. Exit code 2."""

    exit_code = 2


class MissingExtraError(UsageError):
    """A known plugin whose optional runtime is not installed."""


class ModelFileError(UsageError):
    """A model file that cannot be used for the task (not ONNX, wrong shape, ...)."""


class ChecksumError(UsageError):
    """A file or download whose checksum is not the one expected; nothing was stored."""


class DownloadError(PerfpilotError):
    """A download that failed for good (HTTP error, or the network after its retries)."""


class CacheError(PerfpilotError):
    """The artifact store itself is damaged (an unreadable manifest, for instance)."""


class DiskFullError(PerfpilotError):
    """A file could not be written for lack of space; nothing was left half-written."""


class ReadOnlyError(UsageError):
    """A file or folder perfpilot must write lies on a read-only or forbidden path."""


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Free space on the file system that holds ``path`` (or its nearest existing
    parent); None where it cannot be read."""
    here = os.path.abspath(path)
    while not os.path.exists(here) and os.path.dirname(here) != here:
        here = os.path.dirname(here)
    import shutil  # here: only a full disk asks, and every command's start-up would pay

    try:
        return shutil.disk_usage(here).free
    except OSError:
        return None


def disk_full(path: str | os.PathLike[str], needed: int | None = None) -> DiskFullError:
    """The one-line error for a full disk at ``path`` (with the space needed, if known)."""
    free = free_bytes(path)
    need = f"about {_size(needed)} needed, " if needed is not None else ""
    have = f"{_size(free)} free" if free is not None else "free space unknown"
    return DiskFullError(
        f"no space left on the device for {path} ({need}{have})",
        "Free some space (or choose another --workspace) and run again.",
    )


def from_os_error(err: OSError) -> PerfpilotError | None:
    """The one-line error for an OS fault a user can mend (full disk, read-only or
    forbidden path), or None for any other."""
    # a copy's error names its source, then its destination: the one being written
    name = err.filename2 if err.filename2 is not None else err.filename
    where = name if name is not None else "a file"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return disk_full(where)
    if err.errno == errno.EROFS:
        return ReadOnlyError(
            f"cannot write {where}: the file system is read-only",
            "Choose a writable --workspace (or remount it read-write).",
        )
    if err.errno in (errno.EACCES, errno.EPERM):
        return ReadOnlyError(
            f"permission denied: {where}",
            "Choose files and a --workspace you may use, or fix their permissions.",
        )
    return None
