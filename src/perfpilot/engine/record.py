"""The run record (``run.json``): resolved config, provenance and result of one test."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from perfpilot.engine.logparse import LoadgenResult

SCHEMA_VERSION = 1


class AccuracyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: str
    value: float
    good: int
    total: int
    target: float | None  # None: not judged (stand-in models)
    passed: bool


class ArtifactRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    path: str | None = None
    sha256: str | None = None
    substituted: bool = False  # the user's file in place of the catalog's


class RunRecord(BaseModel):
    """Everything about one LoadGen test. Written as ``runs/<run_id>/run.json``."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    run_id: str
    session_id: str
    status: Literal["ok", "failed", "interrupted"]
    started: str
    finished: str
    command: list[str]
    run_dir: str
    config: dict[str, Any]
    loadgen_settings: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    model: ArtifactRecord
    dataset: ArtifactRecord
    standin: bool = False  # random-weight model: speed only, never a closed submission
    provenance: dict[str, Any]
    result: LoadgenResult | None = None
    accuracy: AccuracyRecord | None = None
    error: str | None = None

    @property
    def scenario(self) -> str:
        return str(self.config["scenario"])

    @property
    def mode(self) -> str:
        return str(self.config["mode"])

    @property
    def ok(self) -> bool:
        """True when the test finished and passed: VALID, or accurate enough."""
        if self.status != "ok":
            return False
        if self.mode == "accuracy":
            return self.accuracy is not None and self.accuracy.passed
        return self.result is not None and bool(self.result.valid)
