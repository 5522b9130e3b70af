"""The configuration of one LoadGen test, and how a user's request expands into tests."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from perfpilot.errors import UsageError

SCENARIOS: tuple[str, ...] = ("Offline", "Server", "SingleStream", "MultiStream", "Interactive")
MODES: tuple[str, ...] = ("accuracy", "performance")
EXECUTION_MODES: tuple[str, ...] = ("test", "valid")
DEVICES: tuple[str, ...] = ("cpu", "cuda")
#: Numeric precisions a backend may run a model in (each backend says which it supports).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "int8")

Scenario = Literal["Offline", "Server", "SingleStream", "MultiStream", "Interactive"]
Mode = Literal["accuracy", "performance"]
ExecutionMode = Literal["test", "valid"]
Device = Literal["cpu", "cuda"]
Precision = Literal["fp32", "bf16", "fp16", "int8"]
#: A value of ``--backend-option KEY=VALUE``.
BackendOption = str | int | float | bool


class RunConfig(BaseModel):
    """Everything a user chooses for one LoadGen test (one scenario, one mode).

    Fields left ``None`` are resolved later: by calibration in ``test`` execution mode,
    by LoadGen's built-in mlperf.conf in ``valid`` mode.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = "digits-cnn"
    model_path: Path | None = None
    dataset_path: Path | None = None
    dataset_size: int | None = Field(default=None, ge=1)
    backend: str = "onnxruntime"
    device: Device = "cpu"
    precision: Precision = "fp32"
    scenario: Scenario = "Offline"
    mode: Mode = "performance"
    execution: ExecutionMode = "test"
    batch_size: int = Field(default=32, ge=1)
    threads: int | None = Field(default=None, ge=1, le=256)  # None: one per core
    backend_threads: int | None = Field(default=None, ge=1, le=1024)
    max_wait_ms: float = Field(default=0.0, ge=0.0, le=10_000.0)
    target_qps: float | None = Field(default=None, gt=0.0)
    target_latency_ms: float | None = Field(default=None, gt=0.0)
    min_duration_ms: int | None = Field(default=None, ge=1)
    min_query_count: int | None = Field(default=None, ge=1)
    samples_per_query: int | None = Field(default=None, ge=1)
    trace: bool = False
    # Options of the chosen backend's own config (tvm: tune_trials, ...), checked by it
    # before any test; part of the resolved config, so of the run cache's key.
    backend_options: dict[str, BackendOption] = {}

    @field_validator("target_qps", "target_latency_ms", "max_wait_ms")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


# Field name -> the CLI option a user typed, so errors name what the user can change.
_OPTION_NAMES = {
    "model": "--model",
    "model_path": "--model-path",
    "dataset_path": "--dataset-path",
    "dataset_size": "--dataset-size",
    "backend": "--backend",
    "device": "--device",
    "precision": "--precision",
    "scenario": "--scenario",
    "mode": "--mode",
    "execution": "--execution",
    "batch_size": "--batch-size",
    "threads": "--threads",
    "backend_threads": "--backend-threads",
    "max_wait_ms": "--max-wait-ms",
    "target_qps": "--target-qps",
    "target_latency_ms": "--target-latency-ms",
    "min_duration_ms": "--min-duration",
    "min_query_count": "--count",
    "samples_per_query": "--samples-per-query",
    "backend_options": "--backend-option",
}

_WHOLE = re.compile(r"[+-]?\d+")


def parse_backend_options(items: Iterable[str]) -> dict[str, BackendOption]:
    """``--backend-option KEY=VALUE`` pairs as a mapping. Values are read as a YAML file
    gives them (true/false, whole and decimal numbers, else text), so a sweep file and the
    command line record the same value; the backend's config checks them."""
    options: dict[str, BackendOption] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise UsageError(
                f"--backend-option wants KEY=VALUE, not {item!r}",
                "For example: --backend-option tune_trials=64.",
            )
        options[key] = _option_value(text)
    return options


def with_backend_options(
    options: dict[str, BackendOption], **flags: str | None
) -> dict[str, BackendOption]:
    """``options`` plus the backend options that have flags of their own (``--endpoint``
    is ``endpoint=``): recorded alike; a flag and a --backend-option that disagree are a
    UsageError."""
    merged = dict(options)
    for key, value in flags.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key in merged and merged[key] != value:
            raise UsageError(
                f"{flag} {value} and --backend-option {key}={merged[key]} disagree",
                "Give one of them.",
            )
        merged[key] = value
    return merged


def _option_value(text: str) -> BackendOption:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _WHOLE.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise UsageError(
        f"unknown value {value!r} for {option}",
        f"Choose one of: {', '.join(choices)}.",
    )


def _model_scenarios(model: object) -> list[str]:
    """``--scenario all``: the scenarios MLPerf defines for the model's task (3D-UNet has
    no Server or MultiStream), in perfpilot's order; the default model's when none is
    given; every scenario for an unknown model (the model check reports it)."""
    name = model if isinstance(model, str) else str(RunConfig.model_fields["model"].default)
    from perfpilot.tasks import models, tasks

    spec = models().get(name)
    task = tasks().get(spec.task) if spec else None
    if task is None:
        return list(SCENARIOS)
    return [s for s in SCENARIOS if s in task.scenarios]


def build_run_configs(
    scenario: str = "Offline", mode: str = "both", **options: Any
) -> list[RunConfig]:
    """Expand a request (``scenario`` may be ``all`` or a comma-separated list, ``mode``
    may be ``both``) into tests.

    Accuracy runs before performance for each scenario, as the MLPerf reference does.
    Raises :class:`UsageError` with the option's name for any invalid value.
    """
    scenarios = (
        _model_scenarios(options.get("model"))
        if scenario.lower() == "all"
        else [_choice(s.strip(), (*SCENARIOS, "all"), "--scenario") for s in scenario.split(",")]
    )
    modes = list(MODES) if mode.lower() == "both" else [_choice(mode, (*MODES, "both"), "--mode")]
    for key, choices in (
        ("execution", EXECUTION_MODES),
        ("device", DEVICES),
        ("precision", PRECISIONS),
    ):
        if key in options and options[key] is not None:
            options[key] = _choice(str(options[key]), choices, _OPTION_NAMES[key])
    options = {k: v for k, v in options.items() if v is not None}
    configs = []
    for scen in scenarios:
        for m in modes:
            try:
                configs.append(RunConfig(scenario=scen, mode=m, **options))  # type: ignore[arg-type]
            except ValidationError as err:
                raise config_error(err) from err
    return configs


def config_error(err: ValidationError) -> UsageError:
    """Turn pydantic's report into one line naming the option and the reason."""
    first = err.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    option = _OPTION_NAMES.get(field, field)
    value = first.get("input")
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return UsageError(f"unknown setting {field!r}", "Check the spelling of the option.")
    return UsageError(f"invalid value {value!r} for {option}: {reason.lower()}")
