"""The workspace: a folder with one sub-folder per run (``runs/<run-id>/``)."""

from __future__ import annotations

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

    def write_record(self, record: RunRecord) -> Path:
        """Write ``run.json`` into the record's run directory, then run the ``on_record``
        hook."""
        path = Path(record.run_dir) / RUN_RECORD
        atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
        if self.on_record is not None:
            self.on_record(self, record)
        return path

    def records(self) -> list[RunRecord]:
        """All readable run records, oldest first (unreadable ones are skipped)."""
        found = []
        if self.runs_dir.is_dir():
            for path in self.runs_dir.glob(f"*/{RUN_RECORD}"):
                try:
                    found.append(RunRecord.model_validate_json(path.read_text()))
                except (OSError, ValidationError, ValueError):
                    continue
        return sorted(found, key=lambda r: (r.started, r.run_id))

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
