"""The workspace: a folder with one sub-folder per run (``runs/<run-id>/``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from perfpilot.artifacts import atomic_write_text
from perfpilot.errors import UsageError
from perfpilot.records import RunRecord
from perfpilot.userfiles import blocked_by_file

RUN_RECORD = "run.json"
#: The record a run will have if its perfpilot process dies before writing run.json
#: (written before the LoadGen child starts; a later command completes it).
PENDING_RECORD = "run.pending.json"
#: Locked by the perfpilot process that owns a run and by its LoadGen child: a run
#: directory without run.json whose lock nobody holds was left by a killed process.
RUN_LOCK = "run.lock"
DEFAULT_WORKSPACE = "perfpilot-workspace"

#: Called with each run record once its run.json is written (the commands that run tests
#: index it in the results database; the workspace itself only writes files).
RecordHook = Callable[["Workspace", RunRecord], None]


class Workspace:
    """A workspace folder: ``--workspace DIR``, ``$PERFPILOT_WORKSPACE`` or
    ``./perfpilot-workspace``. ``on_record`` runs after each record is written."""

    def __init__(self, root: Path, on_record: RecordHook | None = None) -> None:
        self.root = root
        self.on_record = on_record

    @classmethod
    def resolve(
        cls, option: str | os.PathLike[str] | None = None, on_record: RecordHook | None = None
    ) -> Workspace:
        chosen = option or os.environ.get("PERFPILOT_WORKSPACE") or DEFAULT_WORKSPACE
        root = Path(chosen).expanduser()
        if root.exists() and not root.is_dir():
            raise UsageError(f"workspace {root} is not a folder", "Pass a folder to --workspace.")
        blocker = blocked_by_file(root)
        if blocker is not None:
            raise UsageError(
                f"workspace {root} cannot be made: {blocker} is a file",
                "Pass a folder to --workspace.",
            )
        return cls(root.absolute(), on_record)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def new_run_dir(self, scenario: str, mode: str) -> tuple[str, Path]:
        """A fresh, empty run directory and its id (time, scenario, mode, random tag)."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        while True:
            run_id = f"{stamp}-{scenario.lower()}-{mode[:4]}-{secrets.token_hex(2)}"
            path = self.runs_dir / run_id
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return run_id, path

    @staticmethod
    def claim(run_dir: Path) -> int:
        """Lock a new run directory for this process (and the children that inherit the
        returned descriptor) until the descriptor is closed or the process dies."""
        fd = os.open(run_dir / RUN_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    @staticmethod
    def write_pending(record: RunRecord) -> None:
        """The record a run keeps if this process dies before :meth:`write_record`."""
        path = Path(record.run_dir) / PENDING_RECORD
        atomic_write_text(path, record.model_dump_json(indent=2) + "\n")

    def write_record(self, record: RunRecord) -> Path:
        """Write ``run.json`` into the record's run directory, then run the ``on_record``
        hook."""
        path = Path(record.run_dir) / RUN_RECORD
        atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
        for done in (PENDING_RECORD, RUN_LOCK):
            with contextlib.suppress(OSError):
                (path.parent / done).unlink()
        if self.on_record is not None:
            self.on_record(self, record)
        return path

    def unrecorded(self, pending: bool = True) -> list[Path]:
        """Run directories without run.json that no live process owns (their perfpilot
        process was killed), oldest first: those with a pending record, or (``pending``
        False) those without one, which nothing can be recovered from."""
        found = []
        if self.runs_dir.is_dir():
            for run_dir in sorted(self.runs_dir.iterdir()):
                if not run_dir.is_dir() or run_dir.is_symlink():
                    continue
                if (run_dir / RUN_RECORD).exists():
                    continue
                if (run_dir / PENDING_RECORD).exists() == pending and not _owned(run_dir):
                    found.append(run_dir)
        return found

    def scan(self) -> tuple[list[RunRecord], list[tuple[Path, str]]]:
        """All readable run records, oldest first, and each unreadable run.json with why."""
        found = []
        unreadable = []
        if self.runs_dir.is_dir():
            for path in sorted(self.runs_dir.glob(f"*/{RUN_RECORD}")):
                try:
                    found.append(RunRecord.model_validate_json(path.read_bytes()))
                except OSError as err:
                    unreadable.append((path, err.strerror or str(err)))
                except ValidationError as err:
                    unreadable.append((path, _first_problem(err)))
                except ValueError as err:
                    unreadable.append((path, str(err).splitlines()[0]))
        return sorted(found, key=lambda r: (r.started, r.run_id)), unreadable

    def records(self) -> list[RunRecord]:
        """All readable run records, oldest first (see :meth:`scan` for the others)."""
        return self.scan()[0]

    def load(self, run_id: str) -> RunRecord:
        """The record of ``run_id`` (a unique prefix is enough)."""
        exact = self.runs_dir / run_id / RUN_RECORD
        candidates = (
            [exact] if exact.exists() else sorted(self.runs_dir.glob(f"{run_id}*/{RUN_RECORD}"))
        )
        if not candidates:
            raise UsageError(
                f"no run {run_id!r} in {self.runs_dir}", "See 'perfpilot runs list' for run ids."
            )
        if len(candidates) > 1:
            raise UsageError(
                f"run id prefix {run_id!r} matches {len(candidates)} runs", "Give more of the id."
            )
        try:
            return RunRecord.model_validate_json(candidates[0].read_text())
        except (ValidationError, ValueError) as err:
            raise UsageError(f"{candidates[0]} is not a readable run record ({err})") from err


def _owned(run_dir: Path) -> bool:
    """Whether a live process holds the run's lock."""
    try:
        fd = os.open(run_dir / RUN_LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _first_problem(err: ValidationError) -> str:
    """A validation error in one line: where and what of its first problem."""
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the top level"
    return f"{first['msg']} at {where} ({err.error_count()} problem(s))"
