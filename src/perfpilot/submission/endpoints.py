"""MLPerf Endpoints results (accepted for LLMs from v6.1): a scenario folder that holds
``config.yaml``, ``performance/result_summary.json`` and ``accuracy/accuracy_results.json``
(written by the mlcommons/endpoints tool) instead of LoadGen logs.

``read_endpoints(folder)`` reads the three files tolerantly and exposes what the official
v6.1 checker's endpoints parser takes from them, under LoadGen's key names
(``values``): the p99 latencies (its early-stopping estimates), tokens/s, QPS (given, or
samples issued over the duration), seeds and min duration from ``config.yaml``, failed
samples; and the accuracy scores with the number of samples they cover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfpilot.userfiles import parse_json

SUMMARY = Path("performance") / "result_summary.json"
ACCURACY = Path("accuracy") / "accuracy_results.json"
CONFIGS = ("config.yaml", "config.yml")

# config.yaml's ``type`` (or the summary's scenario) -> MLPerf scenario
_SCENARIOS = {
    "offline": "Offline",
    "online": "Server",
    "server": "Server",
    "interactive": "Interactive",
    "singlestream": "SingleStream",
    "multistream": "MultiStream",
}
# The LoadGen keys of the percentiles the checker reads, from each series' map.
_PERCENTILES = (("50", "50.00"), ("90", "90.00"), ("99", "99.00"))
_SERIES = (
    ("latency", "result_{p}_percentile_latency_ns"),
    ("ttft", "result_first_token_{p}_percentile_latency_ns"),
    ("tpot", "result_time_per_output_token_{p}_percentile_ns"),
)


def _real_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def is_endpoints(folder: Path) -> bool:
    """A scenario folder with no LoadGen log and any of the Endpoints files (the
    official checker reads a folder as Endpoints when both LoadGen logs are absent)."""
    if _real_file(folder / "performance" / "run_1" / "mlperf_log_detail.txt"):
        return False
    if _real_file(folder / "accuracy" / "mlperf_log_detail.txt"):
        return False
    names = (SUMMARY, ACCURACY, *CONFIGS)
    return any(_real_file(folder / name) for name in names)


def get_path(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...`` or None; a percentile key matches ``"99.0"`` and ``"99"``."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        if key in data:
            data = data[key]
        elif key.endswith(".0") and key[:-2] in data:
            data = data[key[:-2]]
        elif f"{key}.0" in data:
            data = data[f"{key}.0"]
        else:
            return None
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass
class EndpointsResult:
    """The Endpoints files of one scenario folder (None where a file is absent or bad)."""

    folder: Path
    summary: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    accuracy: dict[str, Any] | None = None
    config_path: Path | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def summary_path(self) -> Path:
        return self.folder / SUMMARY

    @property
    def accuracy_path(self) -> Path:
        return self.folder / ACCURACY

    def _setting(self, summary_key: str, *config_keys: str) -> Any:
        """The summary's value first, then config.yaml's (the parser's priority)."""
        value = get_path(self.summary, summary_key)
        return value if value is not None else get_path(self.config, *config_keys)

    @property
    def scenario_text(self) -> str | None:
        """The scenario as the run writes it (config.yaml ``type``: offline, online...)."""
        raw = self._setting("effective_scenario", "type")
        return None if raw is None else str(raw)

    @property
    def run_scenario(self) -> str | None:
        """The MLPerf scenario the run says it is (online is Server)."""
        raw = self.scenario_text
        return _SCENARIOS.get(raw.lower().replace("_", "")) if raw is not None else None

    def scenario(self, folder_scenario: str) -> str | None:
        """The scenario the checker judges it as: an Interactive or SingleStream folder is
        that scenario, else the run's own (online is Server)."""
        if folder_scenario in ("Interactive", "SingleStream"):
            return folder_scenario
        return self.run_scenario

    @property
    def seeds(self) -> dict[str, Any]:
        """The two seeds an Endpoints run has (it has no QSL seed)."""
        return {
            "sample_index_rng_seed": self._setting(
                "effective_sample_index_rng_seed", "settings", "runtime", "dataloader_random_seed"
            ),
            "schedule_rng_seed": self._setting(
                "effective_schedule_rng_seed", "settings", "runtime", "scheduler_random_seed"
            ),
        }

    @property
    def min_duration_ms(self) -> float | None:
        return _number(self._setting("min_duration_ms", "settings", "runtime", "min_duration_ms"))

    @property
    def failed(self) -> int:
        value = _number(get_path(self.summary, "result", "failed"))
        if value is None:
            value = _number(get_path(self.summary, "n_samples_failed"))
        return int(value or 0)

    @property
    def values(self) -> dict[str, float]:
        """The figures under LoadGen's key names, as the official parser maps them."""
        out: dict[str, float] = {}
        for series, template in _SERIES:
            for short, long in _PERCENTILES:
                value = _number(
                    get_path(self.summary, series, "early_stopping_percentiles", f"{short}.0")
                )
                if value is not None:
                    out[template.format(p=long)] = value
        for key, path in (
            ("result_mean_latency_ns", ("latency", "avg")),
            ("result_completed_tokens_per_second", ("tps",)),
            ("result_completed_samples_per_sec", ("qps",)),
        ):
            value = _number(get_path(self.summary, *path))
            if value is not None:
                out[key] = value
        # QPS from samples issued over the duration where the summary gives none
        issued = _number(get_path(self.summary, "generated_query_count"))
        if issued is None:
            issued = _number(get_path(self.summary, "n_samples_issued"))
        duration = _number(get_path(self.summary, "duration_ns"))
        if issued and duration:
            key = (
                "result_samples_per_second"
                if self.run_scenario == "Offline"
                else "result_completed_samples_per_sec"
            )
            out.setdefault(key, issued / (duration / 1e9))
        return out

    @property
    def scores(self) -> list[Any]:
        """The ``score`` of each entry of ``accuracy_scores`` (empty: none given)."""
        entries = get_path(self.accuracy, "accuracy_scores")
        if not isinstance(entries, list):
            return []
        return [e["score"] for e in entries if isinstance(e, dict) and e.get("score") is not None]

    @property
    def accuracy_samples(self) -> int | None:
        """Samples the accuracy datasets cover (their total_samples, else issued)."""
        entries = get_path(self.accuracy, "accuracy_scores")
        counts: list[float] = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or entry.get("dataset_type") not in (None, "accuracy"):
                continue
            count = _number(entry.get("total_samples"))
            if count is None:
                count = _number(get_path(entry, "response_counts", "issued"))
            if count is not None:
                counts.append(count)
        return int(sum(counts)) if counts else None


def _load(path: Path, problems: list[str], loader: str) -> dict[str, Any] | None:
    if not _real_file(path):
        return None
    import yaml  # only Endpoints runs have YAML: `submission check` starts without it

    try:
        text = path.read_text(errors="replace")
        data = yaml.safe_load(text) if loader == "yaml" else parse_json(text)
    except RecursionError:
        problems.append(f"{path} cannot be read (nested too deeply)")
        return None
    except (OSError, ValueError, yaml.YAMLError) as err:
        problems.append(f"{path} cannot be read ({str(err).splitlines()[0]})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path} does not hold a mapping")
        return None
    return data


def read_endpoints(folder: Path) -> EndpointsResult:
    """Read the Endpoints files of a scenario folder (never raises on bad files)."""
    out = EndpointsResult(folder=folder)
    out.summary = _load(folder / SUMMARY, out.problems, "json")
    out.accuracy = _load(folder / ACCURACY, out.problems, "json")
    for name in CONFIGS:
        if _real_file(folder / name):
            out.config_path = folder / name
            out.config = _load(folder / name, out.problems, "yaml")
            break
    return out
