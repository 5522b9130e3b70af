"""The submission plan: every run a round requires for one model on one system category,
with an estimate of how long each takes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from perfpilot.engine.settings import TEST_MIN_DURATION_MS, test_min_query_count
from perfpilot.errors import UsageError
from perfpilot.submission import rounds

DIVISIONS = ("closed", "open")
#: The MLPerf model a task's non-reference models stand in for (open division mapping).
TASK_MLPERF_MODEL = {"imagenet": "resnet", "digits": "resnet", "squad": "bert-99"}
#: The folder name official submissions use for an MLPerf model.
FOLDER_NAMES = {"resnet": "resnet50"}
#: Seconds a test costs besides LoadGen's own duration (process, model load, calibration).
RUN_OVERHEAD_S = {"test": 4.0, "valid": 8.0}
#: Offline in valid mode asks LoadGen for 1.1 x min duration x a headroom over the rate.
OFFLINE_VALID_FACTOR = 1.1 * 1.5
MULTISTREAM_SAMPLES = 8


@dataclass(frozen=True)
class PlanItem:
    """One LoadGen test of the plan: ``kind`` is accuracy, performance or TEST0x."""

    scenario: str
    kind: str
    estimate_s: float
    basis: str  # how the estimate was made
    lower_bound: bool = False  # the rate is unknown: the test takes at least this long

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.kind}"

    @property
    def is_compliance(self) -> bool:
        return self.kind.startswith("TEST")


@dataclass
class Plan:
    """What one submission of ``model`` needs in ``round``."""

    round: str
    model: str  # perfpilot catalog name
    mlperf_model: str  # resnet, bert-99, ...
    folder_model: str  # the model folder name in the tree
    division: str
    category: str
    execution: str
    backend: str
    reference: bool  # the MLPerf reference model (else open division only, mapped)
    standin: bool
    scenarios: list[str]
    items: list[PlanItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return sum(i.estimate_s for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_s"] = round(self.total_s, 1)
        for item in data["items"]:
            item["estimate_s"] = round(item["estimate_s"], 1)
        return data


@dataclass(frozen=True)
class Rates:
    """What is known of this machine's speed for one scenario."""

    throughput: float | None = None  # samples/s (Offline, Server)
    query_latency_s: float | None = None  # one query (SingleStream: 1 sample; MultiStream: 8)
    source: str = ""
    accuracy_rate: float | None = None  # samples/s of an earlier accuracy pass, start to end
    accuracy_source: str = ""

    def merged(self, other: Rates) -> Rates:
        """``other``'s speed figures with this one's accuracy rate when it has none."""
        if other.accuracy_rate or not self.accuracy_rate:
            return other
        return replace(
            other, accuracy_rate=self.accuracy_rate, accuracy_source=self.accuracy_source
        )


def mlperf_model_for(model: str, round_name: str) -> tuple[str, bool]:
    """(MLPerf model, is it the reference model) for a catalog model in a round."""
    from perfpilot.tasks import get_model

    spec = get_model(model)
    rules = rounds.get_round(round_name)
    for name in (model, spec.loadgen_name):
        mapped = rules.mlperf_model(name)
        if mapped in rules.models:
            return mapped, not spec.standin
        # bert-99-pytorch is bert-99 in another framework
        for official in rules.models:
            if name.startswith(official + "-") and not spec.standin:
                return official, True
    task_model = TASK_MLPERF_MODEL.get(spec.task)
    if task_model is None or task_model not in rules.models:
        raise UsageError(
            f"model {model!r} does not correspond to any model of MLPerf Inference {rules.name}",
            f"Models of {rules.name}: {', '.join(rules.models)}.",
        )
    return task_model, False


def rates_from_workspace(model: str, backend: str, workspace: Any) -> dict[str, Rates]:
    """Latest VALID performance figure per scenario for model x backend in the workspace,
    and the speed of its latest accuracy pass there (samples over the run's wall time)."""
    perf: dict[str, Rates] = {}
    accuracy: dict[str, Rates] = {}
    if workspace is None:
        return perf
    for rec in workspace.records():
        cfg = rec.config
        if cfg.get("model") != model or cfg.get("backend") != backend or rec.tags.get("compliance"):
            continue
        if rec.mode == "accuracy":
            seconds = _wall_seconds(rec.started, rec.finished)
            if rec.status == "ok" and rec.accuracy and rec.accuracy.total and seconds:
                rate = rec.accuracy.total / seconds
                accuracy[rec.scenario] = Rates(
                    accuracy_rate=rate, accuracy_source=f"run {rec.run_id}"
                )
            continue
        if rec.mode != "performance" or not rec.ok or rec.result is None or not rec.result.metric:
            continue
        metric = float(rec.result.metric)
        if rec.scenario in ("Offline", "Server"):
            perf[rec.scenario] = Rates(throughput=metric, source=f"run {rec.run_id}")
        else:
            perf[rec.scenario] = Rates(query_latency_s=metric / 1000.0, source=f"run {rec.run_id}")
    out = dict(accuracy)
    for scen, rates in perf.items():
        out[scen] = accuracy[scen].merged(rates) if scen in accuracy else rates
    return out


def _wall_seconds(started: str, finished: str) -> float | None:
    from datetime import datetime

    try:
        fmt = "%Y-%m-%dT%H:%M:%S%z"
        seconds = (
            datetime.strptime(finished, fmt) - datetime.strptime(started, fmt)
        ).total_seconds()
    except (TypeError, ValueError):
        return None
    # the stamps have whole seconds: a run that began and ended in one counts as 1 s
    return max(seconds, 1.0) if seconds >= 0 else None


def rates_from_profile(profile: Any, scenarios: list[str]) -> dict[str, Rates]:
    """Expected values a settings profile carries (tuned target QPS / latency)."""
    out: dict[str, Rates] = {}
    for scen in scenarios:
        opts = profile.options(scen)
        if opts.get("target_qps"):
            out[scen] = Rates(
                throughput=float(opts["target_qps"]), source=f"profile {profile.name}"
            )
        elif opts.get("target_latency_ms"):
            out[scen] = Rates(
                query_latency_s=float(opts["target_latency_ms"]) / 1000.0,
                source=f"profile {profile.name}",
            )
    return out


# The query minimum a valid latency-bound run needs. The checker's table (270336 for
# MultiStream and Server) is skipped for these early-stopping scenarios, like the official
# checker does; LoadGen's mlperf.conf sets MultiStream to 662 and leaves SingleStream and
# Server at TestSettings' default of 100.
LOADGEN_MIN_QUERIES = {"SingleStream": 100, "MultiStream": 662, "Server": 100}


def _sample_rate(rates: dict[str, Rates]) -> float | None:
    """Samples/s for an accuracy pass: Offline's rate, else one over SingleStream's latency."""
    for scen in ("Offline", "Server"):
        if scen in rates and rates[scen].throughput:
            return rates[scen].throughput
    ss = rates.get("SingleStream")
    if ss and ss.query_latency_s:
        return 1.0 / ss.query_latency_s
    ms = rates.get("MultiStream")
    if ms and ms.query_latency_s:
        return MULTISTREAM_SAMPLES / ms.query_latency_s
    return None


def _accuracy_rate(scen: str, rates: dict[str, Rates]) -> tuple[float | None, str]:
    """Samples/s of an accuracy pass in ``scen``: an earlier accuracy pass of that scenario,
    else its own performance figure (one query at a time for the latency scenarios; its
    settings, such as threads, can differ from the others'), else any scenario's."""
    own = rates.get(scen)
    if own and own.accuracy_rate:
        return own.accuracy_rate, own.accuracy_source
    if own and own.throughput:
        return own.throughput, own.source
    if own and own.query_latency_s:
        per_query = MULTISTREAM_SAMPLES if scen == "MultiStream" else 1
        return per_query / own.query_latency_s, own.source
    return _sample_rate(rates), "the other scenarios' runs"


def _perf_estimate(
    scen: str, execution: str, model_rules: rounds.ModelRules, rate: Rates | None
) -> tuple[float, str]:
    valid = execution == "valid"
    min_s = (rounds.common()["min_duration_ms"] if valid else TEST_MIN_DURATION_MS) / 1000.0
    if valid and scen == "Offline":
        queries = model_rules.min_queries.get(scen, 1)
    elif valid:  # early stopping: LoadGen's own minimum, not the checker's table
        queries = LOADGEN_MIN_QUERIES[scen]
    else:
        queries = test_min_query_count(scen, model_rules.token_latencies)
    if scen == "Offline":
        base = min_s * (OFFLINE_VALID_FACTOR if valid else 1.5 * 1.1)
        if rate and rate.throughput:
            floor = model_rules.offline_min_samples_per_query / rate.throughput if valid else 0
            return max(
                base, floor
            ), f"min duration, {rate.throughput:.1f} samples/s ({rate.source})"
        return base, "min duration x LoadGen's Offline headroom (rate unknown)"
    if scen == "Server":
        if rate and rate.throughput:
            return max(min_s, queries / rate.throughput), f"{queries} queries at {rate.source}"
        return min_s, "min duration (rate unknown)"
    if rate and rate.query_latency_s:
        return (
            max(min_s, queries * rate.query_latency_s),
            f"{queries} queries x {rate.query_latency_s * 1000:.3f} ms ({rate.source})",
        )
    return min_s, f"min duration, at least {queries} queries (latency unknown)"


def make_plan(
    model: str,
    category: str,
    division: str,
    round_name: str | None = None,
    execution: str = "valid",
    backend: str = "onnxruntime",
    rates: dict[str, Rates] | None = None,
    dataset_size: int | None = None,
    dataset_path: Any = None,
) -> Plan:
    """The plan, or a UsageError saying why this submission cannot be made."""
    from perfpilot.tasks import get_model, get_task

    division = division.lower()
    if division not in DIVISIONS:
        raise UsageError(f"unknown division {division!r}", "Use closed or open.")
    if execution not in ("valid", "test"):
        raise UsageError(f"unknown execution mode {execution!r}", "Use valid or test.")
    round_name = rounds.get_round(round_name or rounds.default_round()).name
    rules = rounds.get_round(round_name)
    cat = rounds.normalize_category(category)
    spec = get_model(model)
    mlperf, reference = mlperf_model_for(model, round_name)
    if division == "closed":
        if spec.standin:
            raise UsageError(
                f"{model!r} is a stand-in with random weights: it can only be planned as open",
                "Use --division open, or the reference model for a closed submission.",
            )
        if not reference:
            raise UsageError(
                f"{model!r} is not the reference model of {mlperf}: closed needs the reference",
                f"Use --division open (the tree maps it to {mlperf} in model_mapping.json).",
            )
        rounds.require_loadgen_round(round_name)
    scenarios = rules.required_scenarios(mlperf, cat)
    model_rules = rules.model(mlperf)
    # Datacenter LLMs need Server or Interactive besides Offline: Server is planned.
    either = model_rules.one_of(cat)
    if either and not set(either) & set(scenarios):
        scenarios = [*scenarios, either[0]]
    folder = FOLDER_NAMES.get(mlperf, mlperf) if reference else model
    plan = Plan(
        round=round_name,
        model=model,
        mlperf_model=mlperf,
        folder_model=folder,
        division=division,
        category=cat,
        execution=execution,
        backend=backend,
        reference=reference,
        standin=spec.standin,
        scenarios=scenarios,
    )
    if division == "open" and rounds.loadgen_builtin_seeds() != rules.seeds:
        plan.notes.append(
            f"the installed LoadGen does not carry {round_name}'s seeds: logs will not match "
            "the round"
        )
    if not reference:
        plan.notes.append(f"open division: {folder} is mapped to {mlperf} in model_mapping.json")
    rates = rates or {}
    if reference and model_rules.dataset_size and dataset_path is None:
        dataset_size = dataset_size or model_rules.dataset_size  # the full validation set
    else:
        try:
            dataset_size = get_task(spec.task).load_dataset(dataset_path, dataset_size).total_count
        except UsageError:  # no dataset folder given: the official size stands in
            dataset_size = dataset_size or model_rules.dataset_size or 0
    overhead = RUN_OVERHEAD_S[execution]
    sample_rate = _sample_rate(rates)
    for scen in scenarios:
        acc_rate, acc_source = _accuracy_rate(scen, rates)
        if acc_rate:
            acc_s = dataset_size / acc_rate
            acc_basis = f"{dataset_size} samples at {acc_rate:.1f}/s ({acc_source})"
        else:
            acc_s = math.nan
            acc_basis = f"{dataset_size} samples (rate unknown)"
        plan.items.append(
            PlanItem(scen, "accuracy", _finite(acc_s) + overhead, acc_basis, not acc_rate)
        )
        rate = rates.get(scen)
        if rate is None and scen == "Offline" and sample_rate:
            rate = Rates(throughput=sample_rate, source="rate of the other scenarios' runs")
        perf_s, perf_basis = _perf_estimate(scen, execution, model_rules, rate)
        unknown = "unknown" in perf_basis
        plan.items.append(PlanItem(scen, "performance", perf_s + overhead, perf_basis, unknown))
        for test in rules.required_compliance(mlperf):
            if test not in ("TEST01", "TEST04", "TEST05", "TEST06"):
                continue  # other tests (TEST08, ...) are for models perfpilot does not run
            plan.items.append(
                PlanItem(scen, test, perf_s + overhead, f"as performance ({test})", unknown)
            )
    return plan


def _finite(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def format_duration(seconds: float) -> str:
    """``1h 02m``, ``12m 05s`` or ``42s``."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"
