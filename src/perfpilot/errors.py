"""One error family. Each user-facing error says what is wrong, where, and what to do."""

from __future__ import annotations


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
