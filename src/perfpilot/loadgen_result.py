"""What one LoadGen test produced (``LoadgenResult``): a bottom-layer module that imports
nothing else of perfpilot, and no pydantic.

A plain frozen dataclass, not a pydantic model, because the log parser and the
submission checker build one per run folder and must start fast (pydantic's import is a
tenth of a second); ``records.RunRecord`` still validates and writes it as a field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LoadgenResult:
    """What one LoadGen test produced, as perfpilot reports and records it."""

    scenario: str
    test_mode: str
    valid: bool | None  # None in accuracy mode (LoadGen judges only performance runs)
    invalid_reasons: list[str]
    metric_name: str | None
    metric: float | None
    metric_unit: str | None
    latency_ns: dict[str, int]  # min, mean, max and percentiles ("p50", "p90", ...)
    query_count: int | None
    sample_count: int | None
    duration_s: float | None
    loadgen_version: str | None
    seeds: dict[str, int]
    effective: dict[str, Any]
    errors: list[str]
    warnings: list[str]
    # Token runs (LLMs): metric is tokens/s; samples/s, and time to first token and time
    # per output token percentiles in ns ("p50", "p90", "p99", ...; Server and Interactive).
    samples_per_second: float | None = None
    ttft_ns: dict[str, int] = field(default_factory=dict)
    tpot_ns: dict[str, int] = field(default_factory=dict)
