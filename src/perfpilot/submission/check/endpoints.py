"""Rules for MLPerf Endpoints results (v6.1; ``submission.endpoints`` reads them), as the
official v6.1 checker applies them: the files are there, the model may be submitted this
way, no sample failed, the two seeds and min duration in config.yaml are the round's,
p99 TTFT and TPOT (the early-stopping estimates of result_summary.json) are under the
bounds of Server and Interactive, the run is of the folder's scenario, the summary
carries the figure the checker reports, and accuracy_results.json has scores covering
the dataset. Like the official checker it skips the sample count, the QSL seed, the
query minimum and (but for qwen3-vl) the accuracy targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perfpilot.submission.check.context import Context
from perfpilot.submission.endpoints import EndpointsResult
from perfpilot.submission.rounds import ModelRules
from perfpilot.submission.tree import ScenarioEntry, is_file
from perfpilot.userfiles import parse_json

# The rounds whose checker reads Endpoints results, and the models each allows.
ALLOWED_MODELS = {
    "v6.1": (
        "wan-2.2-t2v-a14b",
        "qwen3-vl-235b-a22b",
        "qwen3.6-27b",
        "llama3.1-8b",
        "llama3.1-8b-edge",
        "gpt-oss-120b",
        "deepseek-r1",
    ),
}
# The figure of a scenario where the model names no key of its own (the checker's
# RESULT_FIELD_ENDPOINTS; Interactive reports samples/s, as it has no model key there).
RESULT_KEYS = {
    "Offline": "result_samples_per_second",
    "SingleStream": "result_mean_latency_ns",
    "MultiStream": "result_mean_latency_ns",
    "Server": "result_completed_samples_per_sec",
    "Interactive": "result_completed_samples_per_sec",
}
# Compliance tests an Endpoints run records as audit/audit_<name>.json.
AUDIT_NAMES = {
    "TEST01": "accuracy_in_performance_test",
    "TEST04": "output_caching_test",
    "TEST06": "consistency_output_test",
    "TEST07": "accuracy_in_performance_full_test",
    "TEST08": "accuracy_in_performance_dlrmv3_test",
}
_TOKEN_P99 = (
    ("TTFT", "ttft", "result_first_token_99.00_percentile_latency_ns"),
    ("TPOT", "tpot", "result_time_per_output_token_99.00_percentile_ns"),
)


@dataclass(frozen=True)
class EndpointsRun:
    """One Endpoints result to check, the model's rules and the scenario judged."""

    entry: ScenarioEntry
    ep: EndpointsResult
    mrules: ModelRules | None
    scenario: str | None  # the checker's scenario (config.yaml's, or the folder's)


EndpointsRule = Callable[[Context, EndpointsRun], None]


def files(ctx: Context, run: EndpointsRun) -> None:
    ep = run.ep
    for path, present in (
        (ep.summary_path, is_file(ep.summary_path)),
        (ep.folder / "config.yaml", ep.config_path is not None),
        (ep.accuracy_path, is_file(ep.accuracy_path)),
    ):
        if not present:
            ctx.add("endpoints-file-missing", path, f"{path.name} of the Endpoints run is missing")
    for problem in ep.problems:
        ctx.add("perf-unreadable", ep.folder, problem)


def model_allowed(ctx: Context, run: EndpointsRun) -> None:
    allowed = ALLOWED_MODELS.get(ctx.rules.name)
    if allowed is None:
        ctx.add(
            "endpoints-model",
            run.ep.folder,
            f"an MLPerf Endpoints result: round {ctx.rules.name} takes LoadGen logs only "
            f"(Endpoints from {', '.join(ALLOWED_MODELS)})",
        )
    elif run.entry.mlperf_model not in allowed:
        ctx.add(
            "endpoints-model",
            run.ep.folder,
            f"{run.entry.mlperf_model} may not be submitted as an Endpoints result "
            f"(only {', '.join(allowed)})",
        )


def failed_samples(ctx: Context, run: EndpointsRun) -> None:
    if run.ep.summary is not None and run.ep.failed:
        ctx.add("perf-loadgen-errors", run.ep.summary_path, f"{run.ep.failed} samples failed")


def seeds(ctx: Context, run: EndpointsRun) -> None:
    if run.ep.config is None:
        return  # reported as a missing file
    want = ctx.rules.seeds
    found = run.ep.seeds
    wrong = [k for k, v in found.items() if v != want[k]]
    if wrong:
        ctx.add(
            "perf-seeds",
            run.ep.config_path or run.ep.folder,
            ", ".join(f"{k} is {found[k]} (want {want[k]})" for k in wrong)
            + f": not the seeds of round {ctx.rules.name} "
            "(settings.runtime.dataloader_random_seed, scheduler_random_seed)",
        )


def min_duration(ctx: Context, run: EndpointsRun) -> None:
    if run.ep.config is None:
        return
    found = run.ep.min_duration_ms
    need = int(ctx.common["min_duration_ms"])
    path = run.ep.config_path or run.ep.folder
    if found is None:
        ctx.add("perf-min-duration", path, "no settings.runtime.min_duration_ms in config.yaml")
    elif found < need:
        ctx.add(
            "perf-min-duration",
            path,
            f"min_duration was {found / 1000:g} s, the rules need {need / 1000:g} s",
            ctx.sev(run.entry.division, "perf-min-duration"),
        )


def latency_bound(ctx: Context, run: EndpointsRun) -> None:
    """The p99 latency under the model's bound (LLMs are judged on TTFT/TPOT instead)."""
    if run.mrules is None or run.mrules.token_latencies or run.ep.summary is None:
        return
    bound = run.mrules.latency_constraint_ns.get(run.entry.scenario)
    p99 = run.ep.values.get("result_99.00_percentile_latency_ns")
    if bound and p99 is not None and p99 > bound:
        ctx.add(
            "perf-latency-bound",
            run.ep.summary_path,
            f"p99 latency {p99 / 1e6:g} ms is over the bound {bound / 1e6:g} ms",
        )


def token_latency_bounds(ctx: Context, run: EndpointsRun) -> None:
    if run.mrules is None or not run.mrules.token_latencies or run.ep.summary is None:
        return
    scen = run.scenario or run.entry.scenario
    limits = run.mrules.token_latency_ns.get(scen)
    if scen not in ("Server", "Interactive") or not limits:
        return
    values = run.ep.values
    for label, name, key in _TOKEN_P99:
        value, bound = values.get(key), limits[name]
        if value is None:
            ctx.add(
                "perf-token-latency",
                run.ep.summary_path,
                f"no p99 {label} ({name}.early_stopping_percentiles); {scen} needs it under "
                f"{bound / 1e6:g} ms",
            )
        elif value >= bound:
            ctx.add(
                "perf-token-latency",
                run.ep.summary_path,
                f"{scen} p99 {label} {value / 1e6:g} ms is not under the bound {bound / 1e6:g} ms",
            )


def scenario_match(ctx: Context, run: EndpointsRun) -> None:
    if run.ep.config is None:
        return
    if run.scenario is None:
        ctx.add("perf-scenario-mismatch", run.ep.folder, "config.yaml names no scenario (type)")
    elif run.scenario != run.entry.scenario:
        ctx.add(
            "perf-scenario-mismatch",
            run.ep.config_path or run.ep.folder,
            f"the run is a {run.scenario} run in the {run.entry.scenario} folder",
        )


def scores(ctx: Context, run: EndpointsRun) -> None:
    if run.ep.accuracy is not None and not run.ep.scores:
        ctx.add(
            "accuracy-endpoints-scores", run.ep.accuracy_path, "no accuracy_scores with a score"
        )


def dataset_size(ctx: Context, run: EndpointsRun) -> None:
    if run.ep.accuracy is None or run.mrules is None:
        return
    want = run.mrules.accuracy_sample_count or run.mrules.dataset_size
    total = run.ep.accuracy_samples
    if want and total != want:
        got = "no sample count" if total is None else f"{total} samples"
        ctx.add(
            "accuracy-dataset-size",
            run.ep.accuracy_path,
            f"accuracy run covered {got}, the rules need {want}",
            ctx.sev(run.entry.division, "accuracy-dataset-size"),
        )


RULES: tuple[EndpointsRule, ...] = (
    files,
    model_allowed,
    failed_samples,
    seeds,
    min_duration,
    latency_bound,
    token_latency_bounds,
    scenario_match,
    scores,
    dataset_size,
)


def figure(ep: EndpointsResult, scenario: str | None, mrules: ModelRules | None) -> float | None:
    """The checker's figure: the model's own key where the round names one for the
    scenario (tokens/s for Server), else the scenario's; latencies in ms."""
    if scenario is None:
        return None
    key = (mrules.metric_keys.get(scenario) if mrules else None) or RESULT_KEYS.get(scenario)
    value = ep.values.get(key) if key else None
    if value is not None and scenario in ("SingleStream", "MultiStream"):
        value /= 1e6
    return value


def check_endpoints(ctx: Context, entry: ScenarioEntry, mrules: ModelRules | None) -> float | None:
    """Apply RULES to an Endpoints result; its figure (None: the checker has none)."""
    assert entry.endpoints is not None
    ep = entry.endpoints
    run = EndpointsRun(entry, ep, mrules, ep.scenario(entry.scenario))
    for rule in RULES:
        rule(ctx, run)
    value = figure(ep, run.scenario, mrules)
    if value is None and ep.summary is not None:
        key = (mrules.metric_keys.get(run.scenario or "") if mrules else None) or RESULT_KEYS.get(
            run.scenario or "", "?"
        )
        ctx.add(
            "perf-endpoints-figure",
            ep.summary_path,
            f"no {key} for {run.scenario or 'the run'}: the official checker has no figure "
            "to report",
        )
    return value


def check_audits(ctx: Context, entry: ScenarioEntry, mrules: ModelRules) -> bool:
    """An Endpoints run's compliance audits (audit/audit_<test>.json): each one present
    names its test and passed; the LLM tests may be absent."""
    passed = True
    for test in mrules.compliance:
        name = AUDIT_NAMES.get(test)
        path = entry.compliance_dir / "audit" / f"audit_{name}.json"
        if name is None or not is_file(path):
            continue
        try:
            data: Any = parse_json(path.read_text(errors="replace"))
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("test") != name or not data.get("passed"):
            ctx.add("compliance-failed", path, f"{test} ({name}) did not pass")
            passed = False
    return passed


def shown_scores(entry: ScenarioEntry) -> str:
    """The Accuracy cell: the first score, printed as the checker prints its dict."""
    ep = entry.endpoints
    if ep is None or not ep.scores:
        return ""
    text = json.dumps(ep.scores[0])
    for old, new in ((",", " "), ('"', ""), ("{", ""), ("}", "")):
        text = text.replace(old, new)
    return text.strip()
