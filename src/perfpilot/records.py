"""The run record (``run.json``): resolved config, provenance and result of one test.

A bottom-layer module (of perfpilot it imports only ``loadgen_result``): the engine writes these
records, and the workspace, results, tune and submission read them."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from perfpilot.loadgen_result import LoadgenResult as LoadgenResult  # a field of RunRecord

SCHEMA_VERSION = 1

#: Config fields added after schema 1, with the value every earlier run used.
_CONFIG_DEFAULTS: dict[str, Any] = {"precision": "fp32", "backend_options": {}}


def config_hash(config: dict[str, Any]) -> str:
    """sha256 (hex) of a resolved config dict in canonical JSON form."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    # Free-form labels (sweep name, settings profile, campaign, ...); not part of the config.
    tags: dict[str, str] = {}
    peak_rss_bytes: int | None = None  # the LoadGen child's peak resident memory
    #: Python's collector during the test: collections per generation, total_ms, max_ms
    #: (the longest pause)
    gc: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_configs(cls, data: Any) -> Any:
        """Records written before a config field existed ran with its default: fill it in,
        so their config hash matches a new run of the same settings."""
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            config = dict(data["config"])
            for name, default in _CONFIG_DEFAULTS.items():
                config.setdefault(name, copy.deepcopy(default))
            data = {**data, "config": config}
        return data

    @property
    def model_label(self) -> str:
        """What ran, for people: the catalog model, or for ``--model-path`` the user's
        file's name and short hash (``my.onnx@1a2b3c4d``), which is not the catalog's."""
        if self.model.substituted and self.model.path:
            short = f"@{self.model.sha256[:8]}" if self.model.sha256 else ""
            return f"{PurePath(self.model.path).name}{short}"
        return str(self.config.get("model"))

    @property
    def config_hash(self) -> str:
        """sha256 of the resolved config: two runs with the same hash ran the same settings."""
        return config_hash(self.config)

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
