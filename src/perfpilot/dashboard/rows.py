"""Where the dashboard's rows come from: the results database and the run records."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from perfpilot.workspace import Workspace

if TYPE_CHECKING:
    from perfpilot.records import RunRecord


def load_rows(
    workspace: Workspace,
    db: str | os.PathLike[str] | None = None,
    home: str | None = None,
    records: Sequence[RunRecord] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows to show and the sweep names.

    With ``db``: that database's rows. Otherwise the user's database (``home``: a file or
    URL, else the workspace's file when it exists) plus any run record it lacks (a run
    whose indexing failed, or made before it existed); nothing is written to the database.
    ``records``: the workspace's run records where the caller has read them already.
    """
    from perfpilot.results.db import ResultsDB
    from perfpilot.results.record_rows import record_row

    if db is not None:
        with ResultsDB.open(db, create=False) as opened:
            return opened.rows(), opened.sweeps()
    rows: list[dict[str, Any]] = []
    sweeps: set[str] = set()
    if home is not None or ResultsDB.path_for(workspace).exists():
        with ResultsDB.open(home or workspace, create=False) as opened:
            rows, sweeps = opened.rows(), set(opened.sweeps())
    known = {row["id"] for row in rows}
    for record in workspace.records() if records is None else records:
        if record.run_id not in known:
            rows.append(record_row(record))
            if record.tags.get("sweep"):
                sweeps.add(record.tags["sweep"])
    return rows, sorted(sweeps)
