"""Per-round MLPerf Inference submission rules, as perfpilot data (``rules.json``).

The model tables of each round (v4.1 to v6.1) are generated from the official submission
checker of that round by ``bench/official_rules.py`` (which reads the official source
with ``ast``): every official model, its accuracy targets (every metric, and the upper
limits of the generated-length windows), sample counts, query minimums, latency bounds
(TTFT and TPOT of the token benchmarks), required and optional scenarios per system
category, compliance tests, equal-issue mode, the official metric (tokens/s for the token
benchmarks) and units. ``tests/test_official_rules.py`` fails when a round's official
table has a model these tables lack. Seeds, layouts and the system/measurement JSON
fields are perfpilot's own entries. Interactive is a scenario folder from v5.1 on
(LoadGen runs it as Server under the ``<model>-interactive`` settings).

Typical use::

    from perfpilot.submission import rounds
    rules = rounds.get_round("v6.1")
    rules.required_scenarios("resnet", "edge")     # ['SingleStream', 'MultiStream', 'Offline']
    rounds.default_round()                          # newest round the installed LoadGen fits
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfpilot.errors import UsageError

RULES_FILE = Path(__file__).with_name("rules.json")
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline", "Interactive")
CATEGORIES = ("datacenter", "edge", "datacenter,edge")
SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")


@dataclass(frozen=True)
class ModelRules:
    """What one round requires of one model (``name`` is the MLPerf model name)."""

    name: str
    accuracy: list[tuple[str, float]]  # (metric, minimum) pairs, all must be met
    performance_sample_count: int
    dataset_size: int | None
    latency_constraint_ns: dict[str, int]  # scenario -> bound (Server)
    min_queries: dict[str, int]
    offline_min_samples_per_query: int
    compliance: list[str]  # TEST01, TEST04, ...
    equal_issue: bool  # sample_concatenate_permutation required
    required_scenarios: dict[str, list[str]]  # category -> scenarios
    # Generative benchmarks (empty/None/False for the classic models):
    optional_scenarios: dict[str, list[str]] = field(default_factory=dict)  # category -> ...
    accuracy_upper: list[tuple[str, float]] = field(default_factory=list)  # (metric, maximum)
    accuracy_sample_count: int | None = None  # when the accuracy run is not the whole set
    token_latency_ns: dict[str, dict[str, int]] = field(default_factory=dict)  # scen -> ttft/tpot
    token_latencies: bool = False  # use_token_latencies must be on
    metric_keys: dict[str, str] = field(default_factory=dict)  # log scenario -> detail key
    units: dict[str, str] = field(default_factory=dict)  # folder scenario -> summary units
    # folder -> file stems the accuracy folder must hold (sdxl: images/<id>.png)
    accuracy_files: dict[str, list[str]] = field(default_factory=dict)
    # scenario -> (metric, minimum) pairs where the round's targets differ by scenario
    accuracy_by_scenario: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    accuracy_sample_count_by_scenario: dict[str, int] = field(default_factory=dict)

    def accuracy_for(self, scenario: str) -> list[tuple[str, float]]:
        """The accuracy targets of a scenario (qwen3-vl's Interactive has its own)."""
        return self.accuracy_by_scenario.get(scenario, self.accuracy)

    def one_of(self, category: str) -> list[str]:
        """Scenarios of which a closed submission needs at least one (Server or
        Interactive for the datacenter LLMs), on a normalized ``category``."""
        optional = self.optional_scenarios.get(category, [])
        return [s for s in ("Server", "Interactive") if s in optional] if len(optional) > 1 else []


@dataclass(frozen=True)
class RoundRules:
    """The rules of one round (``name`` like ``v6.1``)."""

    name: str
    layout: str  # "v4" (v4.1-v5.1: code/, measurements/, compliance/) or "v6" (src/, in-folder)
    loadgen_first: str  # first LoadGen release that carries this round's seeds
    loadgen_last: str | None  # last one (None: still current)
    seeds: dict[str, int]
    test05_seeds: dict[str, int] | None
    aliases: dict[str, str]  # folder model name -> MLPerf model (resnet50 -> resnet)
    models: dict[str, ModelRules] = field(default_factory=dict)

    def model(self, name: str) -> ModelRules:
        """Rules of a model by MLPerf name or alias; UsageError listing the known ones."""
        key = self.mlperf_model(name)
        if key not in self.models:
            raise UsageError(
                f"model '{name}' is not part of MLPerf Inference {self.name}",
                f"Models of {self.name}: {', '.join(self.models)}.",
            )
        return self.models[key]

    def mlperf_model(self, name: str) -> str:
        """The MLPerf model name a folder name stands for (``resnet50`` -> ``resnet``)."""
        return self.aliases.get(name, name)

    def required_scenarios(self, model: str, category: str) -> list[str]:
        """Scenarios a closed submission of ``model`` needs on a ``category`` system."""
        cat = normalize_category(category)
        scen = self.model(model).required_scenarios.get(cat)
        if scen is None:
            raise UsageError(
                f"model '{model}' cannot be submitted on a '{cat}' system in {self.name}",
                "Categories allowed: "
                + ", ".join(self.model(model).required_scenarios)
                + " (set system_type in the system JSON).",
            )
        return sorted(scen, key=SCENARIOS.index)

    def required_compliance(self, model: str) -> list[str]:
        """Compliance tests (TEST01, TEST04, TEST05, ...) required for ``model``."""
        return list(self.model(model).compliance)


def normalize_category(category: str) -> str:
    """``edge,datacenter`` and ``datacenter,edge`` are the same category."""
    parts = sorted(p.strip().lower() for p in category.split(",") if p.strip())
    cat = ",".join(parts)
    if cat not in CATEGORIES:
        raise UsageError(
            f"unknown system category '{category}'",
            "Use one of: datacenter, edge, datacenter,edge.",
        )
    return cat


@functools.cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RULES_FILE.read_text())
    return data


def common() -> dict[str, Any]:
    """Rules shared by all rounds (system JSON fields, size limits, accuracy patterns)."""
    return dict(_data()["common"])


def _build(name: str, raw: dict[str, Any]) -> RoundRules:
    models = {
        m: ModelRules(
            name=m,
            accuracy=[(str(a), float(b)) for a, b in spec["accuracy"]],
            performance_sample_count=int(spec["performance_sample_count"]),
            dataset_size=spec["dataset_size"],
            latency_constraint_ns=dict(spec["latency_constraint_ns"]),
            min_queries=dict(spec["min_queries"]),
            offline_min_samples_per_query=int(spec["offline_min_samples_per_query"]),
            compliance=list(spec["compliance"]),
            equal_issue=bool(spec["equal_issue"]),
            required_scenarios={k: list(v) for k, v in spec["required_scenarios"].items()},
            optional_scenarios={k: list(v) for k, v in spec.get("optional_scenarios", {}).items()},
            accuracy_upper=[(str(a), float(b)) for a, b in spec.get("accuracy_upper", [])],
            accuracy_sample_count=spec.get("accuracy_sample_count"),
            token_latency_ns={
                k: {m: int(n) for m, n in v.items()}
                for k, v in spec.get("token_latency_ns", {}).items()
            },
            token_latencies=bool(spec.get("token_latencies", False)),
            metric_keys=dict(spec.get("metric_keys", {})),
            units=dict(spec.get("units", {})),
            accuracy_files={k: list(v) for k, v in spec.get("accuracy_files", {}).items()},
            accuracy_sample_count_by_scenario={
                k: int(v) for k, v in spec.get("accuracy_sample_count_by_scenario", {}).items()
            },
            accuracy_by_scenario={
                k: [(str(a), float(b)) for a, b in v]
                for k, v in spec.get("accuracy_by_scenario", {}).items()
            },
        )
        for m, spec in raw["models"].items()
    }
    return RoundRules(
        name=name,
        layout=raw["layout"],
        loadgen_first=raw["loadgen_first"],
        loadgen_last=raw["loadgen_last"],
        seeds={k: int(v) for k, v in raw["seeds"].items()},
        test05_seeds=raw["test05_seeds"],
        aliases=dict(raw["aliases"]),
        models=models,
    )


@functools.cache
def _rounds() -> dict[str, RoundRules]:
    return {name: _build(name, raw) for name, raw in _data()["rounds"].items()}


ROUNDS: tuple[str, ...] = ("v4.1", "v5.0", "v5.1", "v6.0", "v6.1")


def get_round(name: str) -> RoundRules:
    """Rules of a round (``v6.1`` or ``6.1``); UsageError listing the known rounds."""
    key = name if name.startswith("v") else f"v{name}"
    rounds = _rounds()
    if key not in rounds:
        raise UsageError(
            f"unknown MLPerf Inference round '{name}'",
            f"Known rounds: {', '.join(ROUNDS)}.",
        )
    return rounds[key]


def required_scenarios(round_name: str, model: str, category: str) -> list[str]:
    """Shortcut for ``get_round(round_name).required_scenarios(model, category)``."""
    return get_round(round_name).required_scenarios(model, category)


def required_compliance(round_name: str, model: str) -> list[str]:
    """Shortcut for ``get_round(round_name).required_compliance(model)``."""
    return get_round(round_name).required_compliance(model)


_SEED_LINE = re.compile(
    rb"\*\.\*\.(qsl_rng_seed|sample_index_rng_seed|schedule_rng_seed)\s*=\s*(\d+)"
)


@functools.cache
def loadgen_builtin_seeds() -> dict[str, int] | None:
    """The seeds the installed LoadGen carries in its compiled-in mlperf.conf.

    LoadGen (>= 4.1.7) embeds mlperf.conf as a string in its extension module, so the
    seeds are read from the module file itself without starting a test. None when LoadGen
    is not installed or the seeds cannot be found.
    """
    import importlib.util

    spec = importlib.util.find_spec("mlperf_loadgen")
    if spec is None or spec.origin is None:
        return None
    try:
        blob = Path(spec.origin).read_bytes()
    except OSError:
        return None
    seeds = {m.group(1).decode(): int(m.group(2)) for m in _SEED_LINE.finditer(blob)}
    return seeds if all(k in seeds for k in SEED_KEYS) else None


def loadgen_version() -> str | None:
    """Version of the installed ``mlcommons-loadgen`` wheel, if any."""
    from importlib import metadata

    try:
        return metadata.version("mlcommons-loadgen")
    except metadata.PackageNotFoundError:
        return None


def round_for_seeds(seeds: dict[str, int]) -> str | None:
    """The round whose official seeds these are, or None."""
    for name in reversed(ROUNDS):
        want = get_round(name).seeds
        if all(seeds.get(k) == want[k] for k in SEED_KEYS):
            return name
    return None


def default_round() -> str:
    """The newest round whose seeds the installed LoadGen carries (else the newest round)."""
    seeds = loadgen_builtin_seeds()
    found = round_for_seeds(seeds) if seeds else None
    return found or ROUNDS[-1]


def require_loadgen_round(round_name: str) -> None:
    """Refuse (UsageError) a closed submission for a round the installed LoadGen cannot do."""
    rules = get_round(round_name)
    seeds = loadgen_builtin_seeds()
    version = loadgen_version() or "not installed"
    if seeds is not None and all(seeds[k] == rules.seeds[k] for k in SEED_KEYS):
        return
    carried = round_for_seeds(seeds) if seeds else None
    want = f"mlcommons-loadgen>={rules.loadgen_first}" + (
        f",<={rules.loadgen_last}" if rules.loadgen_last else ""
    )
    raise UsageError(
        f"the installed LoadGen ({version}) does not carry the seeds of round {rules.name}"
        + (f" (it carries {carried}'s)" if carried else ""),
        f"Install a LoadGen of that round (pip install '{want}') or choose round "
        f"{carried or default_round()}.",
    )
