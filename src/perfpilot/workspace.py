"""The workspace: a folder with one sub-folder per run (``runs/<run-id>/``)."""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from perfpilot.artifacts import atomic_write_text
from perfpilot.errors import PerfpilotError, UsageError
from perfpilot.records import RunRecord

RUN_RECORD = "run.json"
DEFAULT_WORKSPACE = "perfpilot-workspace"


class Workspace:
    """A workspace folder: ``--workspace DIR``, ``$PERFPILOT_WORKSPACE`` or
    ``./perfpilot-workspace``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def resolve(cls, option: str | os.PathLike[str] | None = None) -> Workspace:
        chosen = option or os.environ.get("PERFPILOT_WORKSPACE") or DEFAULT_WORKSPACE
        root = Path(chosen).expanduser()
        if root.exists() and not root.is_dir():
            raise UsageError(f"workspace {root} is not a folder", "Pass a folder to --workspace.")
        return cls(root.absolute())

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
        path = Path(record.run_dir) / RUN_RECORD
        atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
        self._index(record)
        return path

    def _index(self, record: RunRecord) -> None:
        """Add the run to the results database. run.json is the source of truth: a database
        failure only warns (``perfpilot results rebuild`` catches up later)."""
        try:
            from perfpilot.results.db import index_record

            index_record(self, record)
        except Exception as err:  # noqa: BLE001 - the run is safe in run.json whatever failed
            text = err.one_line() if isinstance(err, PerfpilotError) else f"{err}"
            print(
                f"perfpilot: warning: run {record.run_id} is recorded in run.json but not in "
                f"the results database ({text})",
                file=sys.stderr,
            )

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
