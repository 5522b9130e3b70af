"""What crosses the process boundary: the child's orders and its answer, typed.

The parent resolves everything (configuration with threads filled in, the model and task
specs as the model's file sees them, the model file, the task's input names) and writes
a :class:`ChildSpec`; the child runs exactly that and writes a :class:`ChildResult`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from perfpilot.config.run import RunConfig
from perfpilot.tasks.spec import ModelSpec, TaskSpec

SPEC_FILE = "spec.json"
RESULT_FILE = "child_result.json"
CONTRACT_VERSION = 1


class ChildSpec(BaseModel):
    """One LoadGen test, fully resolved by the parent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = CONTRACT_VERSION
    run_id: str
    config: RunConfig  # resolved: threads, backend threads and absolute paths filled in
    model: ModelSpec
    task: TaskSpec  # the model's task with its layout and preprocessing applied
    model_path: Path | None  # None for backends that read no model (null)
    input_names: tuple[str, ...]  # the model's, else the task's


class ChildResult(BaseModel):
    """The child's answer: ``ok`` with what it measured and used, or ``failed`` with the
    error, where it happened (``setup`` or ``loadgen``) and its traceback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = CONTRACT_VERSION
    status: Literal["ok", "failed"]
    phase: Literal["setup", "loadgen"] | None = None
    error: str | None = None
    traceback: str | None = None
    settings: dict[str, Any] | None = None  # the LoadGen settings written to user.conf
    calibration: dict[str, Any] | None = None
    backend_version: str | None = None
    gc: dict[str, Any] | None = None


def read_result(path: Path) -> ChildResult | None:
    """The child's answer, or None where it wrote none (killed) or an unreadable one."""
    try:
        return ChildResult.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None
