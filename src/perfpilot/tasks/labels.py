"""What every figure of a run is called and in what unit: the one place the CLI, the sweep
report and the dashboard ask, so that no figure is shown bare.

Performance: LoadGen's official metric per scenario (the stream scenarios report an
early-stopping estimate of a latency percentile, not the measured percentile beside it).
Accuracy: the metric each task declares (``TaskSpec.metric``) and its target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfpilot.errors import PerfpilotError

if TYPE_CHECKING:
    from perfpilot.tasks.spec import ModelSpec


@dataclass(frozen=True)
class Metric:
    """A figure's name, its short name (table headers) and unit."""

    name: str
    short: str
    unit: str
    higher_is_better: bool

    @property
    def header(self) -> str:
        """``early-stopping p99 (ms)``: a column header that names the figure and unit."""
        return f"{self.short} ({self.unit})"


# Scenario -> LoadGen's official figure (what the checker reports for it).
SCENARIO_METRICS: dict[str, Metric] = {
    "Offline": Metric("throughput", "throughput", "samples/s", True),
    "Server": Metric("completed-sample throughput", "throughput", "samples/s", True),
    "Interactive": Metric("completed-sample throughput", "throughput", "samples/s", True),
    "SingleStream": Metric(
        "early-stopping estimate of the p90 latency", "early-stopping p90", "ms", False
    ),
    "MultiStream": Metric(
        "early-stopping estimate of the p99 latency", "early-stopping p99", "ms", False
    ),
}
# Token benchmarks (LLMs, whisper): Offline, Server and Interactive count tokens.
TOKEN_METRIC = Metric("token throughput", "throughput", "tokens/s", True)
# The results database's metric names -> unit (see perfpilot.results.record_rows.METRICS).
DB_UNITS = {
    "samples_per_second": "samples/s",
    "queries_per_second": "queries/s",
    "tokens_per_second": "tokens/s",
    "latency_ms": "ms",
}
# Columns of ``perfpilot sweep report`` (perfpilot.tune.sweep's objectives) -> unit.
SWEEP_UNITS = {
    "throughput": "samples/s",
    "p50": "ms",
    "p90": "ms",
    "p99": "ms",
    "accuracy": "%",
    "memory": "MiB",
    "tokens": "tokens/s",
    "tokens_per_user": "tokens/s/user",
    "ttft_p99": "ms",
    "tpot_p99": "ms",
}


def unit_of(db_metric: str | None) -> str:
    """The unit of a results-database metric name (``samples_per_second`` -> samples/s)."""
    return DB_UNITS.get(db_metric or "", db_metric or "")


def perf_metric(scenario: str | None, unit: str | None = None) -> Metric | None:
    """The official figure of ``scenario``; ``unit`` (a record's ``metric_unit`` or a
    database metric name) picks the token figure for token runs."""
    if unit in ("tokens/s", "tokens_per_second"):
        return TOKEN_METRIC
    return SCENARIO_METRICS.get(scenario or "")


def figure_text(value: float | None, scenario: str | None, unit: str | None = None) -> str:
    """``12.345 ms (early-stopping p99)``, ``1,234.5 samples/s``: a figure with its unit,
    and for the stream scenarios which estimate it is."""
    if value is None:
        return "-"
    metric = perf_metric(scenario, unit)
    shown_unit = unit_of(unit) if unit else (metric.unit if metric else "")
    if metric is None:
        return f"{value:g} {shown_unit}".strip()
    if metric.higher_is_better:
        return f"{value:,.1f} {shown_unit}"
    if value == 0:
        return "n/a (too few queries for early stopping)"  # LoadGen logs 0 then
    return f"{value:.3f} {shown_unit} ({metric.short})"


def accuracy_metric(model: str | None) -> str | None:
    """The accuracy metric of a catalog model's task (``top-1``, ``F1``, ``AUC``...), or
    None for a model the catalog does not know."""
    spec = _model(model)
    if spec is None:
        return None
    from perfpilot.tasks.registry import get_task

    return get_task(spec.task).metric


def accuracy_target(model: str | None) -> float | None:
    """The accuracy a run of ``model`` must reach (percent); None where it is not judged
    (stand-ins, unknown models)."""
    spec = _model(model)
    if spec is None or spec.standin:
        return None
    if spec.accuracy_target is not None:
        return spec.accuracy_target
    from perfpilot.tasks.registry import get_task

    return get_task(spec.task).accuracy_target


def accuracy_text(value: float | None, metric: str | None) -> str:
    """``top-1 97.500%``: an accuracy figure with its metric's name."""
    if value is None:
        return "-"
    return f"{metric or 'accuracy'} {value:.3f}%"


def _model(model: str | None) -> ModelSpec | None:
    if not model:
        return None
    from perfpilot.tasks.registry import get_model

    try:
        return get_model(model)
    except PerfpilotError:
        return None
