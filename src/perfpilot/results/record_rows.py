"""The results database's rows of run records: the keys every row has, metric names (the
official checker's figure per scenario; tokens/s for token benchmarks), and the row of one
local run record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perfpilot.errors import PerfpilotError

if TYPE_CHECKING:
    from perfpilot.records import LoadgenResult, RunRecord

ROW_KEYS: tuple[str, ...] = (
    "id",
    "source",
    "run_id",
    "model",
    "scenario",
    "mode",
    "backend",
    "device",
    "system",
    "submitter",
    "division",
    "round",
    "status",
    "valid",
    "metric",
    "value",
    "accuracy",
    "p90_ms",
    "p99_ms",
    "ttft_p99_ms",
    "tpot_p99_ms",
    "standin",
    "started",
    "tags",
    "run_dir",
    "config",
    "provenance",
)

# Scenario -> metric name. Figures are what the official checker reports: Offline and
# Server samples/s (Server: completed), the stream scenarios the early-stopping latency
# estimate in milliseconds; token benchmarks (LLMs) tokens/s instead (see metric_name).
METRICS = {
    "Offline": "samples_per_second",
    "Server": "samples_per_second",
    "SingleStream": "latency_ms",
    "MultiStream": "latency_ms",
    "Interactive": "samples_per_second",
}
# Token benchmarks (LLMs, whisper): the official figure of Offline, Server and
# Interactive is tokens/s, never to be compared with samples/s.
TOKEN_METRIC = "tokens_per_second"


def metric_name(scenario: str, unit: str | None) -> str | None:
    """The metric name of a figure: tokens/s for token runs, else the scenario's."""
    return TOKEN_METRIC if unit == "tokens/s" else METRICS.get(scenario)


def token_p99_ms(result: LoadgenResult | None) -> tuple[float | None, float | None]:
    """A token run's p99 time to first token and time per output token, in ms."""
    if result is None:
        return None, None
    ttft, tpot = result.ttft_ns.get("p99"), result.tpot_ns.get("p99")
    return (None if ttft is None else ttft / 1e6), (None if tpot is None else tpot / 1e6)


# ---------------------------------------------------------------- rows from run records


def _token_figures(res: LoadgenResult) -> dict[str, float | None]:
    """TTFT p99, TPOT p50/p99 (ms) and samples/s of a token run, for the dashboard."""

    def ms(values: dict[str, int], key: str) -> float | None:
        return None if key not in values else values[key] / 1e6

    return {
        "ttft_p99_ms": ms(res.ttft_ns, "p99"),
        "tpot_p50_ms": ms(res.tpot_ns, "p50"),
        "tpot_p99_ms": ms(res.tpot_ns, "p99"),
        "samples_per_second": res.samples_per_second,
    }


def record_row(record: RunRecord) -> dict[str, Any]:
    """The database row of one local run record."""
    cfg = record.config
    res = record.result
    latency = res.latency_ns if res else {}

    def ms(key: str) -> float | None:
        value = latency.get(key)
        return None if value is None else value / 1e6

    scenario = str(cfg.get("scenario"))
    value = res.metric if res else None
    tokens = res is not None and res.metric_unit == "tokens/s"
    ttft, tpot = token_p99_ms(res)
    return {
        "id": record.run_id,
        "source": "local",
        "run_id": record.run_id,
        "model": record.model_label,  # --model-path: the user's file, not the catalog's
        "scenario": scenario,
        "mode": cfg.get("mode"),
        "backend": cfg.get("backend"),
        "device": cfg.get("device"),
        "system": str(record.provenance.get("system", {}).get("hostname") or "local"),
        "submitter": None,
        "division": None,
        "round": None,
        "status": record.status,
        "valid": res.valid if res else None,
        "metric": metric_name(scenario, res.metric_unit if res else None)
        if value is not None
        else None,
        "value": value,
        "accuracy": record.accuracy.value if record.accuracy else None,
        "p90_ms": ms("p90"),
        "p99_ms": ms("p99"),
        "ttft_p99_ms": ttft,
        "tpot_p99_ms": tpot,
        "standin": record.standin,
        "started": record.started,
        "tags": dict(record.tags),
        "run_dir": record.run_dir,
        "config": dict(cfg),
        "provenance": {
            **record.provenance,
            "session_id": record.session_id,
            "command": list(record.command),
            "config_hash": record.config_hash,
            "mlperf_model": mlperf_model(str(cfg.get("model"))),
            "model": record.model.model_dump(),
            "dataset": record.dataset.model_dump(),
            "loadgen_version": res.loadgen_version if res else None,
            "loadgen_settings": record.loadgen_settings,
            "error": record.error,
            # token runs' serving figures (TTFT, TPOT; JSON here: no schema step needed)
            "tokens": _token_figures(res) if tokens and res is not None else None,
        },
    }


def mlperf_model(name: str) -> str:
    """The MLPerf benchmark a catalog model runs as (``resnet50-standin`` -> ``resnet50``)."""
    try:
        from perfpilot.tasks import get_model

        return str(get_model(name).loadgen_name)
    except PerfpilotError:
        return name


def benchmark_of(row: Mapping[str, Any]) -> str:
    """The MLPerf benchmark of a row: local runs by their model's LoadGen name."""
    return str((row.get("provenance") or {}).get("mlperf_model") or row.get("model"))
