"""Performance rules: each LoadGen performance run (the result's and its compliance
tests') is VALID, carries the round's seeds and meets the round's settings; token
benchmarks also had token latencies on and kept p99 TTFT and TPOT under the bounds of
their scenario (Server or Interactive)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from perfpilot.loadgen_result import LoadgenResult
from perfpilot.submission import rounds
from perfpilot.submission.check.context import Context
from perfpilot.submission.check.values import as_int, detail_float, detail_value
from perfpilot.submission.rounds import ModelRules
from perfpilot.submission.tree import ScenarioEntry, is_dir, is_file

# Latency-bound scenarios: LoadGen's early stopping replaces the query minimum.
_EARLY_STOPPING = ("Server", "SingleStream", "MultiStream")


@dataclass(frozen=True)
class PerfRun:
    """One performance run to check: its parsed logs, folder and the model's rules."""

    res: LoadgenResult
    folder: Path
    mrules: ModelRules | None
    division: str
    seeds: dict[str, int] | None = None  # the seeds it must carry; None: the round's
    scenario: str | None = None  # the folder's scenario (Interactive runs log Server)
    measurements: Path | None = None  # the result's measurements folder (its .conf files)
    compliance: bool = False  # a compliance test's run

    @property
    def detail(self) -> Path:
        return self.folder / "mlperf_log_detail.txt"


PerfRule = Callable[[Context, PerfRun], None]


def validity(ctx: Context, run: PerfRun) -> None:
    if run.res.valid is not True:
        why = "; ".join(run.res.invalid_reasons) or "result is not VALID"
        ctx.add("perf-invalid", run.detail, f"LoadGen judged the run INVALID ({why})")


def loadgen_errors(ctx: Context, run: PerfRun) -> None:
    if run.res.errors:
        ctx.add(
            "perf-loadgen-errors", run.detail, f"LoadGen errors: {'; '.join(run.res.errors[:3])}"
        )


def seeds(ctx: Context, run: PerfRun) -> None:
    res = run.res
    want = run.seeds or ctx.rules.seeds
    wrong = [k for k in rounds.SEED_KEYS if res.seeds.get(k) != want[k]]
    if wrong:
        carried = rounds.round_for_seeds(res.seeds)
        ctx.add(
            "perf-seeds",
            run.detail,
            ", ".join(f"{k} is {res.seeds.get(k)} (want {want[k]})" for k in wrong)
            + f": not the seeds of round {ctx.rules.name}"
            + (f" (they are {carried}'s)" if carried else ""),
        )


def sample_count(ctx: Context, run: PerfRun) -> None:
    if run.mrules is None:
        return
    psc = as_int(run.res.effective.get("performance_sample_count"))
    if psc is not None and psc < run.mrules.performance_sample_count:
        ctx.add(
            "perf-sample-count",
            run.detail,
            f"performance_sample_count {psc} < {run.mrules.performance_sample_count}",
            ctx.sev(run.division, "perf-sample-count"),
        )


def equal_issue(ctx: Context, run: PerfRun) -> None:
    """Equal-issue mode where the round requires it: the log says so, or (as the official
    checker accepts) the measurements' mlperf.conf / user.conf turn it on. v4.1's checker
    does not require it of compliance runs."""
    if run.mrules is None or not run.mrules.equal_issue:
        return
    if run.compliance and ctx.rules.name == "v4.1":
        return
    if run.division == "open" and ctx.rules.name != "v5.1":
        return  # the other rounds' checkers require it of closed and network only
    if run.res.effective.get("sample_concatenate_permutation"):
        return
    if run.measurements is not None and _conf_equal_issue(run):
        return
    ctx.add("perf-equal-issue", run.detail, "equal-issue mode was off")


def _conf_equal_issue(run: PerfRun) -> bool:
    """``<model>.<scenario>.sample_concatenate_permutation = 1`` (or ``*``) in a .conf."""
    assert run.measurements is not None and run.mrules is not None
    base = run.mrules.name.replace("-99.9", "").replace("-99", "")
    scenario = run.scenario or run.res.scenario
    for name in ("mlperf.conf", "user.conf"):
        path = run.measurements / name
        if not is_file(path):
            continue
        for line in path.read_text(errors="replace").splitlines():
            key, sep, value = line.split("#", 1)[0].replace(" ", "").partition("=")
            parts = key.split(".")
            if (
                sep
                and len(parts) == 3
                and parts[2] == "sample_concatenate_permutation"
                and parts[0] in (base, "*")
                and parts[1] in (scenario, "*")
                and value == "1"
            ):
                return True
    return False


def offline_samples(ctx: Context, run: PerfRun) -> None:
    if run.mrules is None or run.res.scenario != "Offline":
        return
    spq = as_int(run.res.effective.get("samples_per_query"))
    need = run.mrules.offline_min_samples_per_query
    if spq is not None and spq < need:
        ctx.add(
            "perf-offline-samples",
            run.detail,
            f"Offline issued {spq} samples, the round needs at least {need}",
            ctx.sev(run.division, "perf-offline-samples"),
        )


def latency_bound(ctx: Context, run: PerfRun) -> None:
    if run.mrules is None:
        return
    scen = run.res.scenario
    bound = run.mrules.latency_constraint_ns.get(scen)
    target = as_int(run.res.effective.get("target_latency_ns"))
    if bound and target is not None and target > bound:
        ctx.add(
            "perf-latency-bound",
            run.detail,
            f"{scen} target latency {target / 1e6:g} ms is over the bound {bound / 1e6:g} ms",
        )


def min_queries(ctx: Context, run: PerfRun) -> None:
    scen = run.res.scenario
    if run.mrules is None or scen in _EARLY_STOPPING:
        return
    mq = as_int(run.res.effective.get("min_query_count"))
    need_q = run.mrules.min_queries.get(scen)
    if need_q and mq is not None and mq < need_q:
        ctx.add(
            "perf-min-queries",
            run.detail,
            f"min_query_count {mq} < {need_q}",
            ctx.sev(run.division, "perf-min-queries"),
        )


def min_duration(ctx: Context, run: PerfRun) -> None:
    min_ms = as_int(run.res.effective.get("min_duration_ms"))
    need_ms = int(ctx.common["min_duration_ms"])
    if min_ms is not None and min_ms < need_ms:
        ctx.add(
            "perf-min-duration",
            run.detail,
            f"min_duration was {min_ms / 1000:g} s, the rules need {need_ms / 1000:g} s",
            ctx.sev(run.division, "perf-min-duration"),
        )


def early_stopping(ctx: Context, run: PerfRun) -> None:
    res = run.res
    if res.scenario in _EARLY_STOPPING and "early stopping not met" in res.invalid_reasons:
        ctx.add(
            "perf-early-stopping",
            run.detail,
            "the early-stopping condition was not met",
            ctx.sev(run.division, "perf-early-stopping"),
        )


# The p99 token latencies the official checker reads (LoadGen logs them with
# use_token_latencies on, in the Server scenario).
_TOKEN_P99 = (
    ("TTFT", "ttft", "result_first_token_99.00_percentile_latency_ns"),
    ("TPOT", "tpot", "result_time_per_output_token_99.00_percentile_ns"),
)


def token_latencies_on(ctx: Context, run: PerfRun) -> None:
    if run.mrules is None or not run.mrules.token_latencies:
        return
    if detail_value(run.folder, "requested_use_token_latencies") is not True:
        ctx.add(
            "perf-token-latencies-off",
            run.detail,
            "use_token_latencies was off: a token benchmark must report tokens/s, TTFT and TPOT",
        )


def token_latency_bounds(ctx: Context, run: PerfRun) -> None:
    """p99 TTFT and TPOT strictly under the bounds of the folder's scenario (the rules'
    Interactive bounds for an Interactive folder, whose log says Server)."""
    if run.mrules is None:
        return
    scen = run.scenario or run.res.scenario
    limits = run.mrules.token_latency_ns.get(scen)
    if not limits:
        return
    for label, name, key in _TOKEN_P99:
        value = detail_float(run.folder, key)
        bound = limits[name]
        if value is None:
            ctx.add(
                "perf-token-latency",
                run.detail,
                f"no p99 {label} in the log ({key}); {scen} needs it under {bound / 1e6:g} ms",
            )
        elif value >= bound:
            ctx.add(
                "perf-token-latency",
                run.detail,
                f"{scen} p99 {label} {value / 1e6:g} ms is not under the bound {bound / 1e6:g} ms",
            )


RULES: tuple[PerfRule, ...] = (
    validity,
    loadgen_errors,
    seeds,
    sample_count,
    equal_issue,
    offline_samples,
    latency_bound,
    min_queries,
    min_duration,
    early_stopping,
    token_latencies_on,
    token_latency_bounds,
)


def check_run(ctx: Context, run: PerfRun) -> None:
    """Apply RULES to one performance run."""
    for rule in RULES:
        rule(ctx, run)


def check_performance(
    ctx: Context, entry: ScenarioEntry, mrules: ModelRules | None
) -> tuple[float | None, bool]:
    """Check the result's performance run; its value and whether it was inferred from
    another scenario's run (None when the logs cannot be read)."""
    res = entry.performance
    if res is None:
        if is_dir(entry.performance_dir):
            ctx.add(
                "perf-unreadable",
                entry.performance_dir,
                "; ".join(entry.problems) or "no readable LoadGen log",
            )
        return None, False
    run = PerfRun(
        res,
        entry.performance_dir,
        mrules,
        entry.division,
        scenario=entry.scenario,
        measurements=entry.measurements_dir,
    )
    check_run(ctx, run)
    inferred = False
    value = official_value(entry.performance_dir, res, mrules)
    same = res.scenario == entry.scenario or (res.scenario, entry.scenario) == (
        "Server",
        "Interactive",
    )
    if value is None and same and res.test_mode != "AccuracyOnly":
        # the official checker fails such a result too (it cannot read the figure)
        key = (mrules.metric_keys.get(res.scenario) if mrules else None) or res.metric_name
        ctx.add(
            "perf-metric-missing",
            run.detail,
            f"the log has no {key or 'official figure'}: the result has no figure",
        )
    if (res.scenario, entry.scenario) == ("Server", "Interactive"):
        return value, False  # Interactive is LoadGen's Server under the interactive settings
    if res.scenario != entry.scenario:
        value, inferred = inferred_result(entry, res)
        if not inferred:
            ctx.add(
                "perf-scenario-mismatch",
                entry.performance_dir / "mlperf_log_detail.txt",
                f"the log is a {res.scenario} run in the {entry.scenario} folder",
            )
        elif value is None or value == 0:
            ctx.add(
                "perf-early-stopping",
                entry.performance_dir / "mlperf_log_detail.txt",
                f"no {entry.scenario} figure can be inferred from the {res.scenario} run "
                "(too few samples for an early-stopping estimate)",
            )
    return value, inferred


def official_value(folder: Path, res: LoadgenResult, mrules: ModelRules | None) -> float | None:
    """The figure the official checker reports: the model's own detail key where the
    round names one (tokens/s for the token benchmarks, the p90 latency of the
    llama3.1-8b-edge SingleStream run), else the scenario's metric."""
    key = mrules.metric_keys.get(res.scenario) if mrules else None
    if key is None:
        return res.metric
    value = detail_float(folder, key)
    if value is not None and res.scenario in ("SingleStream", "MultiStream"):
        value /= 1e6  # ns -> ms
    return value


def inferred_result(entry: ScenarioEntry, res: LoadgenResult) -> tuple[float | None, bool]:
    """Offline from SingleStream/MultiStream, MultiStream from SingleStream (edge rules)."""
    eff = res.effective
    if entry.scenario == "Offline" and res.scenario == "MultiStream":
        # the official formula: the mean latency per query of the MultiStream run
        mean = detail_float(entry.performance_dir, "result_mean_query_latency_ns")
        spq = as_int(eff.get("samples_per_query")) or 8
        return (spq * 1000 / (mean / 1e6) if mean else None), True
    if entry.scenario == "Offline" and res.scenario == "SingleStream":
        qps = detail_float(entry.performance_dir, "result_qps_without_loadgen_overhead")
        mean = res.latency_ns.get("mean")
        return (qps if qps is not None else (1e9 / mean if mean else None)), True
    if entry.scenario == "MultiStream" and res.scenario == "SingleStream":
        # as the official checker: the early-stopping p99 estimate of the SingleStream
        # run (its "early_stopping_latency_ms" key) times 8 samples per query
        p99 = detail_float(entry.performance_dir, "early_stopping_latency_ms")
        return (p99 * 8 / 1e6 if p99 else None), True
    return res.metric, False
