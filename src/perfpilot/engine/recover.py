"""Run directories whose perfpilot process was killed before it wrote run.json: the
record it left (run.pending.json) is completed from what the LoadGen child left, so a
later ``runs list``, ``runs show`` or ``results rebuild`` finds every run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.engine.contracts import RESULT_FILE, SPEC_FILE, ChildSpec, read_result
from perfpilot.errors import PerfpilotError
from perfpilot.provenance import software_versions
from perfpilot.records import RunRecord
from perfpilot.workspace import PENDING_RECORD, Workspace


@dataclass(frozen=True)
class Recovered:
    run_id: str
    status: str  # the status recorded: ok or failed (the child finished), or interrupted
    note: str  # one line for the user


def recover_runs(workspace: Workspace) -> list[Recovered]:
    """Record every run directory that a killed perfpilot process left without run.json:
    with the child's result where it finished, else as interrupted."""
    done = []
    for run_dir in workspace.unrecorded():
        try:
            draft = RunRecord.model_validate_json((run_dir / PENDING_RECORD).read_bytes())
        except (OSError, ValueError) as err:
            done.append(Recovered(run_dir.name, "skipped", f"{run_dir}: unreadable ({err})"))
            continue
        record = _complete(draft, run_dir)
        workspace.write_record(record)
        how = "its result recovered" if record.status != "interrupted" else "as interrupted"
        done.append(Recovered(record.run_id, record.status, f"recorded run {record.run_id} {how}"))
    return done


def _complete(draft: RunRecord, run_dir: Path) -> RunRecord:
    """The draft with the child's result where the child finished its test."""
    from perfpilot.engine.prepare import Prepared
    from perfpilot.engine.runner import _finish, _read_child

    child = read_result(run_dir / RESULT_FILE)
    if child is None:
        return draft  # the child was stopped with its parent: interrupted
    try:
        spec = ChildSpec.model_validate_json((run_dir / SPEC_FILE).read_bytes())
        cfg = spec.config
        child = _read_child(cfg, run_dir)
        # Only an accuracy run is scored, with the task's dataset.
        dataset: Any = None
        if cfg.mode == "accuracy":
            dataset = spec.task.load_dataset(cfg.dataset_path, cfg.dataset_size)
        prepared = Prepared(
            spec.model, spec.task, dataset, spec.model_path, draft.model, draft.dataset
        )
        returncode = 0 if child is not None and child.status == "ok" else 1
        status, error, result, accuracy = _finish(cfg, prepared, run_dir, child, returncode, None)
    except (OSError, ValueError, PerfpilotError) as err:
        text = err.one_line() if isinstance(err, PerfpilotError) else str(err)
        return draft.model_copy(update={"error": f"{draft.error}; not recovered: {text}"})
    answer = child
    assert answer is not None
    return draft.model_copy(
        update={
            "status": status,
            "error": None if status == "ok" else error,
            "result": result,
            "accuracy": accuracy,
            "loadgen_settings": answer.settings,
            "calibration": answer.calibration,
            "gc": answer.gc,
            "finished": time.strftime(
                "%Y-%m-%dT%H:%M:%S%z", time.localtime((run_dir / RESULT_FILE).stat().st_mtime)
            ),
            "provenance": {
                **draft.provenance,
                "software": software_versions(answer.backend_version),
            },
            "tags": {**draft.tags, "recovered": "true"},
        }
    )
