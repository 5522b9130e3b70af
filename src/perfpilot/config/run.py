"""The configuration of one LoadGen test, and how a user's request expands into tests."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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

#: LoadGen builds every query of a test (Offline: every sample) in memory before the test
#: starts, at some hundred bytes each: more than this is beyond any machine's memory.
MAX_LOADGEN_QUERIES = 1_000_000_000
MAX_DURATION_MS = 7 * 24 * 3600 * 1000  # a week
MAX_QPS = 100_000_000.0
MAX_LATENCY_MS = 24 * 3600 * 1000.0  # a day per query
MAX_BATCH = 65_536
#: ``test`` execution mode's test length where none is given (``valid``: mlperf.conf's).
TEST_MIN_DURATION_MS = 1000
_VALID_MIN_DURATION_MS = 600_000


@dataclass(frozen=True)
class Bound:
    """The range of a numeric run option (floats must also be finite)."""

    low: float
    high: float
    whole: bool = True
    low_open: bool = False  # low itself is not allowed


#: Every numeric RunConfig field and its range: the one source of the model's checks,
#: the command-line options' types and the settings profiles' fields.
BOUNDS: dict[str, Bound] = {
    "dataset_size": Bound(1, MAX_LOADGEN_QUERIES),
    "batch_size": Bound(1, MAX_BATCH),
    "threads": Bound(1, 256),
    "backend_threads": Bound(1, 1024),
    "max_wait_ms": Bound(0.0, 10_000.0, whole=False),
    "target_qps": Bound(0.0, MAX_QPS, whole=False, low_open=True),
    "target_latency_ms": Bound(0.0, MAX_LATENCY_MS, whole=False, low_open=True),
    "min_duration_ms": Bound(1, MAX_DURATION_MS),
    "min_query_count": Bound(1, MAX_LOADGEN_QUERIES),
    "samples_per_query": Bound(1, MAX_LOADGEN_QUERIES),
}


def bounded(field: str, default: Any = None) -> Any:
    """A pydantic ``Field`` holding ``field``'s range from :data:`BOUNDS`."""
    bound = BOUNDS[field]
    limits: dict[str, Any] = {"gt" if bound.low_open else "ge": bound.low, "le": bound.high}
    if not bound.whole:
        limits["allow_inf_nan"] = False
    return Field(default=default, **limits)


class RunConfig(BaseModel):
    """Everything a user chooses for one LoadGen test (one scenario, one mode).

    Fields left ``None`` are resolved later: by calibration in ``test`` execution mode,
    by LoadGen's built-in mlperf.conf in ``valid`` mode.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = "digits-cnn"
    model_path: Path | None = None
    dataset_path: Path | None = None
    dataset_size: int | None = bounded("dataset_size")
    backend: str = "onnxruntime"
    device: Device = "cpu"
    precision: Precision = "fp32"
    scenario: Scenario = "Offline"
    mode: Mode = "performance"
    execution: ExecutionMode = "test"
    batch_size: int = bounded("batch_size", 32)
    threads: int | None = bounded("threads")  # None: one per core
    backend_threads: int | None = bounded("backend_threads")
    max_wait_ms: float = bounded("max_wait_ms", 0.0)
    target_qps: float | None = bounded("target_qps")
    target_latency_ms: float | None = bounded("target_latency_ms")
    min_duration_ms: int | None = bounded("min_duration_ms")
    min_query_count: int | None = bounded("min_query_count")
    samples_per_query: int | None = bounded("samples_per_query")
    trace: bool = False
    # Options of the chosen backend's own config (tvm: tune_trials, ...), checked by it
    # before any test; part of the resolved config, so of the run cache's key.
    backend_options: dict[str, BackendOption] = {}

    @model_validator(mode="after")
    def _loadgen_can_hold(self) -> RunConfig:
        """The queries LoadGen would build before the test starts must fit its limit:
        the count (times MultiStream's samples per query), and the expected rate times
        the duration (Offline: samples; Server: queries; streams: twice the queries)."""
        count = (self.min_query_count or 0) * (
            (self.samples_per_query or 1) if self.scenario == "MultiStream" else 1
        )
        if count > MAX_LOADGEN_QUERIES:
            raise ValueError(
                f"--count x --samples-per-query is {_many(count)} samples, and LoadGen builds "
                f"them all in memory before the test: at most {MAX_LOADGEN_QUERIES:,}"
            )
        default_ms = TEST_MIN_DURATION_MS if self.execution == "test" else _VALID_MIN_DURATION_MS
        seconds = (self.min_duration_ms or default_ms) / 1000
        streams = self.scenario in ("SingleStream", "MultiStream")
        if streams:
            rate = 2000 / self.target_latency_ms if self.target_latency_ms else 0.0
        else:
            rate = 1.1 * self.target_qps if self.target_qps else 0.0
        if rate * seconds > MAX_LOADGEN_QUERIES:
            option = "--target-latency-ms" if streams else "--target-qps"
            raise ValueError(
                f"{option} over a {seconds:g}s test is {_many(rate * seconds)} queries, and "
                f"LoadGen builds them all in memory before the test: at most "
                f"{MAX_LOADGEN_QUERIES:,}"
            )
        return self


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


def _many(count: float) -> str:
    return f"{count:,.0f}" if count < 1e15 else f"{count:.2e}"


def duration_ms(seconds: object, option: str = "--min-duration") -> int:
    """A test duration in seconds, as a user gives it, as ``min_duration_ms``."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or not 0 < seconds <= MAX_DURATION_MS / 1000
    ):
        raise UsageError(
            f"invalid value {seconds!r} for {option}: give seconds, more than 0 and at most "
            f"{MAX_DURATION_MS // 1000:,}"
        )
    return max(1, round(seconds * 1000))


def config_error(err: ValidationError) -> UsageError:
    """Turn pydantic's report into one line naming the option and the reason."""
    first = err.errors()[0]
    if not first["loc"]:  # a check of several options together
        reason = str(first["msg"]).removeprefix("Value error, ")
        return UsageError(reason, "Lower one of them.")
    field = str(first["loc"][0])
    option = _OPTION_NAMES.get(field, field)
    value = first.get("input")
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return UsageError(f"unknown setting {field!r}", "Check the spelling of the option.")
    return UsageError(f"invalid value {value!r} for {option}: {reason.lower()}")
