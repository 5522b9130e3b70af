"""The settings tuner: Offline peak samples/s (and tokens/s for token benchmarks), the
highest VALID Server and Interactive target QPS (by bisection, with short probes that stop
clearly failing loads early), and SingleStream / MultiStream expected latencies. Every
trial is a real LoadGen run, recorded with the tag ``{"tune": ID}``; the findings become a
settings profile.

Token benchmarks (LLMs) are judged as LoadGen judges them: by the p99 time to first token
and time per output token against the bounds LoadGen applied (mlperf.conf's, read back from
the run's detail log), not by the p99 of whole answers."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from perfpilot.config.run import SCENARIOS, RunConfig
from perfpilot.engine.settings import SERVER_LIKE
from perfpilot.errors import PerfpilotError, UsageError
from perfpilot.records import RunRecord
from perfpilot.tune.findings import (
    Load,
    ServerFinding,
    Trial,
    TuneResult,
    ns_to_ms,
    token_bounds_ms,
)
from perfpilot.tune.profiles import Profile, ScenarioOptions
from perfpilot.workspace import Workspace

if TYPE_CHECKING:
    from perfpilot.engine.runner import ProgressFn

#: Server loads are tried on the grid capacity * STEP**k: bisection ends with neighbours, so
#: the load 10% above the answer is one already seen failing.
STEP = 1.10
#: A probe (short Server run) fails clearly when its p99 is this far over the bound, or it
#: completes less than this share of the load it was given (the queue is growing).
PROBE_LATENCY_FACTOR = 2.0
PROBE_RATE_SHARE = 0.8
#: A probe passes clearly when its p99 is under this share of the bound and it completes
#: this share of the load. 64 queries say little about a p99 close to the bound (a probe
#: at 9.9 ms of 10 ms was followed by full runs at that load failing), so a probe near the
#: bound gets a full-length trial instead.
PROBE_PASS_LATENCY_SHARE = 0.6
PROBE_PASS_SHARE = 0.95
#: Grid steps that double the load (1.1 ** 7 ~ 1.95), to bracket the answer quickly.
DOUBLE = 7
#: The first Server load, as a share of the Offline peak (as calibration does).
SERVER_START = 0.5
#: Rounds of final full runs when noise moves the answer up or down.
MAX_FINAL_ROUNDS = 4
#: Short probes and test-mode trials: durations (ms) and query counts. A trial needs enough
#: queries for LoadGen's p99 early-stopping estimate (about 460 with none over the bound).
PROBE_MS, PROBE_QUERIES = 300, 64
TRIAL_MS, TRIAL_QUERIES = 1000, 800
CONFIRM_MS = 2000
#: Offline: the expected QPS saved in the profile is the peak times this (LoadGen ends an
#: Offline run early, "min duration not met", when the system beats its expectation).
OFFLINE_SAVE_HEADROOM = 1.1
#: Server and Interactive: the QPS saved is the highest confirmed VALID load less one grid
#: step (10%), so a re-run on the same machine stays VALID through run-to-run noise.
SERVER_SAVE_MARGIN = 1 / 1.1
#: SingleStream/MultiStream expected latency: LoadGen's metric percentile for each.
STREAM_PERCENTILE = {"SingleStream": "p90", "MultiStream": "p99"}


def parse_budget(text: str) -> float:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"1m30s"`` or a plain number of seconds -> seconds."""
    raw = text.strip().lower()
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    try:
        if raw and raw[-1].isdigit():
            seconds = float(raw)
        else:
            seconds, number = 0.0, ""
            for ch in raw:
                if ch in units:
                    if not number:
                        raise ValueError(raw)
                    seconds += float(number) * units[ch]
                    number = ""
                else:
                    number += ch
            if number:
                raise ValueError(raw)
    except ValueError as err:
        raise UsageError(
            f"invalid --budget {text!r}", "Give a duration such as 90s, 5m or 1h."
        ) from err
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"invalid --budget {text!r}: must be positive")
    return seconds


class TrialRunner(Protocol):
    """Runs one trial's configs and returns their records: ``run_benchmark`` on this
    machine, or a cluster's dispatcher (one node per trial)."""

    def __call__(
        self,
        configs: Sequence[RunConfig],
        workspace: Workspace,
        command: Sequence[str] = (),
        *,
        tags: dict[str, str],
    ) -> list[RunRecord]: ...


class BudgetExhausted(Exception):
    """Raised inside the tuner when the next trial would not fit in the budget."""


class Tuner:
    """Runs the trials for one model x backend x device within a time budget."""

    def __init__(
        self,
        base: RunConfig,
        workspace: Workspace,
        budget_s: float,
        execution: str = "test",
        on_trial: Callable[[Trial], None] | None = None,
        command: Sequence[str] = (),
        batch_sizes: Sequence[int] = (),
        tune_id: str | None = None,
        runner: TrialRunner | None = None,
        progress: ProgressFn | None = None,
    ) -> None:
        self.base = base
        self.runner = runner
        self.workspace = workspace
        self.budget_s = budget_s
        self.execution = execution
        self.on_trial = on_trial
        self.command = list(command)
        self.batch_sizes = list(batch_sizes)
        self.progress = progress  # each trial's live line
        self.tune_id = tune_id or f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        self.trials: list[Trial] = []
        self.start = time.monotonic()
        # A search's share of the budget (elapsed seconds), so Server leaves Interactive some
        self.share_until_s: float | None = None

    # -- budget -------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _estimate(self, duration_ms: int) -> float:
        """Rough wall time of a trial: the process start and load seen so far, plus the run."""
        # stream runs record no duration: their wall time is no process overhead
        overheads = [
            t.wall_s - t.record.result.duration_s
            for t in self.trials
            if t.record.result is not None and t.record.result.duration_s is not None
        ]
        overhead = max(overheads[-3:]) if overheads else 3.0
        return overhead + duration_ms / 1000

    def _fits(self, duration_ms: int, reserve_s: float = 0.0) -> bool:
        limit = min(self.budget_s, self.share_until_s or self.budget_s)
        return self.elapsed() + self._estimate(duration_ms) + reserve_s <= limit

    def _reserve(self) -> float:
        """Time the Server search leaves for the final pair (a valid-length pair is not
        counted: it takes ~20 minutes whatever the budget, and the CLI says so)."""
        return 2 * self._estimate(CONFIRM_MS) if self.execution == "test" else 0.0

    # -- one trial ----------------------------------------------------------------------
    def _run(
        self,
        scenario: str,
        stage: str,
        *,
        target_qps: float | None = None,
        duration_ms: int | None = None,
        queries: int | None = None,
        execution: str = "test",
        check_budget: bool = True,
        **extra: Any,
    ) -> RunRecord:
        from perfpilot.engine.runner import run_benchmark

        if check_budget and not self._fits(duration_ms or TRIAL_MS):
            raise BudgetExhausted
        update: dict[str, Any] = {
            "scenario": scenario,
            "mode": "performance",
            "execution": execution,
            "target_qps": target_qps,
            "min_duration_ms": duration_ms if execution == "test" else None,
            "min_query_count": queries if execution == "test" else None,
            **extra,
        }
        cfg = RunConfig.model_validate({**self.base.model_dump(), **update})
        tags = {"tune": self.tune_id, "stage": stage}
        if self.runner is not None:  # a cluster's dispatcher: its own live lines
            record = self.runner([cfg], self.workspace, self.command, tags=tags)[0]
        else:
            record = run_benchmark([cfg], self.workspace, self.command, self.progress, tags=tags)[0]
        if record.status != "ok" or record.result is None:
            raise PerfpilotError(
                f"tuning trial {record.run_id} {record.status}: {record.error}",
                f"See {record.run_dir}/child.log; 'perfpilot run' with these settings "
                "shows the same error.",
            )
        return record

    def _note(self, trial: Trial) -> Trial:
        self.trials.append(trial)
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial

    def _trial(self, scenario: str, stage: str, started: float, record: RunRecord,
               passed: bool, note: str, target_qps: float | None = None) -> Trial:  # fmt: skip
        return self._note(
            Trial(
                number=len(self.trials) + 1,
                scenario=scenario,
                stage=stage,
                target_qps=target_qps,
                record=record,
                passed=passed,
                note=note,
                wall_s=time.monotonic() - started,
            )
        )

    # -- Offline ------------------------------------------------------------------------
    def offline_peak(self, stage: str = "offline") -> dict[str, Any]:
        """Peak Offline samples/s (the best of the batch sizes asked for, if any)."""
        best: dict[str, Any] | None = None
        for bs in self.batch_sizes or [self.base.batch_size]:
            started = time.monotonic()
            try:
                record = self._run("Offline", stage, duration_ms=TRIAL_MS, batch_size=bs)
            except BudgetExhausted:
                if best is None:
                    raise
                break
            res = record.result
            assert res is not None
            # token runs: LoadGen's metric is tokens/s; target_qps stays samples/s
            tokens = float(res.metric or 0.0) if res.metric_unit == "tokens/s" else None
            rate = float((res.samples_per_second if tokens is not None else res.metric) or 0.0)
            figures = f"{rate:.1f} samples/s" + (
                "" if tokens is None else f" ({tokens:.1f} tokens/s)"
            )
            self._trial(
                "Offline", stage, started, record, bool(res.valid), f"{figures}, batch {bs}"
            )
            if best is None or rate > best["peak_samples_per_s"]:
                best = {
                    "peak_samples_per_s": rate,
                    "peak_tokens_per_s": tokens,
                    "run_id": record.run_id,
                    "batch_size": bs,
                    "threads": record.config.get("threads"),
                    "backend_threads": record.config.get("backend_threads"),
                }
        assert best is not None
        return best

    # -- Server and Interactive ---------------------------------------------------------
    def _bound_ms(self, record: RunRecord) -> float:
        res = record.result
        ns = None if res is None else res.effective.get("target_latency_ns")
        if ns:
            return float(ns) / 1e6
        from perfpilot.tasks import get_model, get_task

        return float(get_task(get_model(self.base.model).task).server_latency_ms)

    def _load(self, record: RunRecord) -> Load:
        """How a Server-like run stood against its bounds (token runs: TTFT and TPOT)."""
        res = record.result
        assert res is not None
        rate = res.samples_per_second if res.samples_per_second is not None else res.metric
        p99 = res.latency_ns.get("p99", 0) / 1e6
        bounds = token_bounds_ms(record)
        if bounds is None or not res.ttft_ns:
            bound = self._bound_ms(record)
            return Load(float(rate or 0.0), p99 / bound, f"p99 {p99:.2f} ms, bound {bound:g} ms")
        ttft = res.ttft_ns.get("p99", 0) / 1e6
        tpot = res.tpot_ns.get("p99", 0) / 1e6
        text = f"TTFT p99 {ttft:.1f}/{bounds[0]:g} ms, TPOT p99 {tpot:.2f}/{bounds[1]:g} ms"
        return Load(float(rate or 0.0), max(ttft / bounds[0], tpot / bounds[1]), text)

    def _probe_at(self, scenario: str, target: float | None) -> tuple[bool, float]:
        """Is ``target`` VALID (None: the load the child calibrates)? A short probe first;
        only a probe that is neither clearly passing nor clearly failing is followed by a
        full-length test-mode trial. Returns the verdict and the load tried."""
        if not self._fits(PROBE_MS, self._reserve()):
            raise BudgetExhausted
        started = time.monotonic()
        rec = self._run(scenario, "probe", target_qps=target, duration_ms=PROBE_MS,
                        queries=PROBE_QUERIES)  # fmt: skip
        qps = float(target or (rec.loadgen_settings or {}).get("target_qps") or 0.0)
        if qps <= 0:
            raise PerfpilotError(f"tuning probe {rec.run_id} recorded no target QPS")
        load = self._load(rec)
        figures = f"{load.text}, {load.rate:.0f}/{qps:.0f} samples/s"
        if load.ratio > PROBE_LATENCY_FACTOR or load.rate < PROBE_RATE_SHARE * qps:
            self._trial(scenario, "probe", started, rec, False, f"clearly failing ({figures})", qps)
            return False, qps
        if load.ratio <= PROBE_PASS_LATENCY_SHARE and load.rate >= PROBE_PASS_SHARE * qps:
            self._trial(scenario, "probe", started, rec, True, f"clearly passing ({figures})", qps)
            return True, qps
        self._trial(scenario, "probe", started, rec, False, f"unclear ({figures})", qps)
        if not self._fits(TRIAL_MS, self._reserve()):
            raise BudgetExhausted
        started = time.monotonic()
        rec = self._run(scenario, "trial", target_qps=qps, duration_ms=TRIAL_MS,
                        queries=TRIAL_QUERIES)  # fmt: skip
        return self._judge(scenario, rec, started, "trial", qps), qps

    def _judge(self, scenario: str, rec: RunRecord, started: float, stage: str, qps: float) -> bool:
        """LoadGen's verdict decides (its early-stopping estimate covers TTFT and TPOT)."""
        res = rec.result
        assert res is not None
        valid = bool(res.valid)
        why = "VALID" if valid else "INVALID: " + "; ".join(res.invalid_reasons or ["?"])
        self._trial(scenario, stage, started, rec, valid, f"{why} ({self._load(rec).text})", qps)
        return valid

    def _final(self, scenario: str, qps: float, stage: str) -> tuple[RunRecord, bool]:
        """A full run at ``qps`` in the chosen execution mode (not budget-checked: the
        search keeps time for it), judged by LoadGen."""
        started = time.monotonic()
        rec = self._run(scenario, stage, target_qps=qps, duration_ms=CONFIRM_MS,
                        queries=TRIAL_QUERIES, execution=self.execution,
                        check_budget=False)  # fmt: skip
        return rec, self._judge(scenario, rec, started, stage, qps)

    def server_qps(self, capacity: float | None, scenario: str = "Server") -> ServerFinding:
        """The highest VALID target QPS of ``scenario`` (Server or Interactive) on the grid
        ``start * 1.1**k``.

        The start is half the ``capacity`` (samples/s) when known, else the load the child
        calibrates (half its measured capacity). Short probes bracket the answer (a VALID k
        and an INVALID k), bisection narrows the bracket to neighbours, and full runs in
        the chosen execution mode confirm the VALID one and show 10% more is not VALID.
        """
        if scenario not in SERVER_LIKE:
            raise ValueError(f"server_qps tunes {', '.join(SERVER_LIKE)}, not {scenario}")
        start = None if capacity is None else SERVER_START * capacity
        ok, first = self._probe_at(scenario, start)

        def qps(k: int) -> float:
            return round(first * STEP**k, 1)

        def probe(k: int) -> bool:
            return self._probe_at(scenario, qps(k))[0]

        lo: int | None = 0 if ok else None
        hi = DOUBLE if ok else 0
        while lo is not None and probe(hi):  # doubling until a load fails
            lo, hi = hi, hi + DOUBLE
        candidate = hi - DOUBLE
        while lo is None:
            if qps(candidate) < 1.0:
                raise PerfpilotError(
                    f"no VALID {scenario} load found for {self.base.model} on {self.base.backend}",
                    "Check the latency bound against 'perfpilot run --scenario SingleStream'.",
                )
            if probe(candidate):
                lo = candidate
            else:
                hi, candidate = candidate, candidate - DOUBLE
        try:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if probe(mid):
                    lo = mid
                else:
                    hi = mid
        except BudgetExhausted:
            pass
        return self._confirm(scenario, lo, qps)

    def _confirm(self, scenario: str, k: int, qps: Callable[[int], float]) -> ServerFinding:
        """Full runs: VALID at ``qps(k)``, not VALID at ``qps(k + 1)`` (10% more). Noise
        moves ``k``: a failed confirmation becomes the 'above' run of ``k - 1``, a VALID
        'above' run the confirmation of ``k + 1``. A few rounds at most."""
        runs: dict[int, tuple[RunRecord, bool]] = {}

        def final(i: int, stage: str) -> tuple[RunRecord, bool]:
            if i not in runs:
                runs[i] = self._final(scenario, qps(i), stage)
            return runs[i]

        first = k
        for _ in range(MAX_FINAL_ROUNDS):
            _, ok = final(k, "confirm")
            if not ok:
                k -= 1
                continue
            _, above_ok = final(k + 1, "above")
            if above_ok:
                k += 1
                continue
            break
        ok_ks = [i for i, (_, ok) in runs.items() if ok]
        if not ok_ks:
            raise PerfpilotError(
                f"the {scenario} load found by the search ({qps(first):.1f} QPS) did not confirm",
                "The machine is too busy now; run 'perfpilot tune' again (a larger --budget "
                "helps).",
            )
        k = max(ok_ks)
        rec, _ = runs[k]
        above = runs.get(k + 1)
        res = rec.result
        assert res is not None
        token = res.metric_unit == "tokens/s"
        bounds = token_bounds_ms(rec) if token else None
        return ServerFinding(
            valid_qps=qps(k),
            valid_run=rec.run_id,
            above_qps=qps(k + 1),
            above_run=None if above is None else above[0].run_id,
            above_valid=None if above is None else above[1],
            latency_bound_ms=None if token else self._bound_ms(rec),
            p99_ms=res.latency_ns.get("p99", 0) / 1e6,
            execution=self.execution,
            scenario=scenario,
            ttft_p99_ms=ns_to_ms(res.ttft_ns.get("p99")) if token else None,
            tpot_p99_ms=ns_to_ms(res.tpot_ns.get("p99")) if token else None,
            ttft_bound_ms=None if bounds is None else bounds[0],
            tpot_bound_ms=None if bounds is None else bounds[1],
            tokens_per_s=res.metric if token else None,
        )

    # -- SingleStream / MultiStream -----------------------------------------------------
    def stream_latency(self, scenario: str) -> dict[str, Any]:
        started = time.monotonic()
        record = self._run(scenario, "stream", duration_ms=TRIAL_MS)
        res = record.result
        assert res is not None
        pct = STREAM_PERCENTILE[scenario]
        raw = res.latency_ns.get(pct)
        latency = (raw / 1e6) if raw is not None else float(res.metric or 0.0)
        self._trial(scenario, "stream", started, record, bool(res.valid), f"{pct} {latency:.3f} ms")
        return {"latency_ms": latency, "percentile": pct, "run_id": record.run_id}


def tune(
    base: RunConfig,
    scenarios: Sequence[str],
    workspace: Workspace,
    budget_s: float,
    name: str,
    execution: str = "test",
    on_trial: Callable[[Trial], None] | None = None,
    command: Sequence[str] = (),
    batch_sizes: Sequence[int] = (),
    previous: Profile | None = None,
    runner: TrialRunner | None = None,
    progress: ProgressFn | None = None,
) -> TuneResult:
    """Tune ``scenarios`` for ``base``'s model/backend/device; returns the findings and the
    profile (``previous`` keeps its other scenarios). Does not save the profile."""
    from perfpilot.provenance import system_info

    tuner = Tuner(
        base,
        workspace,
        budget_s,
        execution,
        on_trial,
        command,
        batch_sizes,
        runner=runner,
        progress=progress,
    )
    result = TuneResult(tune_id=tuner.tune_id, profile=previous or _empty(base, name))
    options: dict[str, dict[str, Any]] = {}
    figures: dict[str, Any] = {}
    order = [s for s in SCENARIOS if s in scenarios]
    # Server and Interactive last: they share what is left of the budget, and start from
    # the Offline peak (Interactive from the Server answer: its bounds are tighter).
    searches = [s for s in order if s in SERVER_LIKE]
    order = [s for s in order if s not in SERVER_LIKE] + searches
    for scen in order:
        try:
            if scen == "Offline":
                off = tuner.offline_peak()
                result.offline = off
                options["Offline"] = {
                    "target_qps": round(off["peak_samples_per_s"] * OFFLINE_SAVE_HEADROOM, 1),
                    "batch_size": off["batch_size"],
                    "threads": off["threads"],
                    "backend_threads": off["backend_threads"],
                }
                figures["Offline"] = off
            elif scen in SERVER_LIKE:
                found = _search(tuner, result, scen, searches, budget_s)
                result.servers[scen] = found
                options[scen] = {"target_qps": round(found.valid_qps * SERVER_SAVE_MARGIN, 1)}
                figures[scen] = dict(found.__dict__)
            else:
                stream = tuner.stream_latency(scen)
                result.streams[scen] = stream
                options[scen] = {"target_latency_ms": round(stream["latency_ms"], 4)}
                figures[scen] = stream
        except BudgetExhausted:
            # a search that ran out of its share leaves the next one its own
            result.budget_hit = True
            result.notes.append(f"the time budget ran out before {scen} was tuned")
            if scen not in SERVER_LIKE:
                break
    result.trials = tuner.trials
    result.elapsed_s = tuner.elapsed()
    result.budget_s = budget_s
    if not options:
        raise UsageError(
            f"the budget of {budget_s:g}s ran out before a scenario was tuned "
            f"({len(tuner.trials)} trials, tune {tuner.tune_id})",
            "Give a larger --budget (e.g. 3m).",
        )
    scen_opts = dict(result.profile.scenarios)
    for scen, opts in options.items():
        scen_opts[scen] = ScenarioOptions(  # type: ignore[index]
            **{k: v for k, v in opts.items() if v is not None}
        )
    found_all = dict(result.profile.found)
    old_figures = dict(found_all.get("figures") or {})
    old_figures.update(figures)
    found_all.update(
        {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {k: system_info().get(k) for k in ("hostname", "cpu_model", "cpu_affinity")},
            "tune_id": tuner.tune_id,
            "execution": execution,
            "figures": old_figures,
        }
    )
    result.profile = result.profile.model_copy(
        update={"name": name, "scenarios": scen_opts, "found": found_all}
    )
    return result


def _search(
    tuner: Tuner, result: TuneResult, scenario: str, searches: list[str], budget_s: float
) -> ServerFinding:
    """One Server-like search within its share of what is left of the budget."""
    capacity = result.offline["peak_samples_per_s"] if result.offline else None
    if result.server is not None:  # Interactive holds at most what Server holds
        capacity = result.server.valid_qps
    left = len(searches) - searches.index(scenario)
    share = (budget_s - tuner.elapsed()) / left
    tuner.share_until_s = None if left == 1 else tuner.elapsed() + share
    try:
        return tuner.server_qps(capacity, scenario)
    finally:
        tuner.share_until_s = None


def _empty(base: RunConfig, name: str) -> Profile:
    return Profile(name=name, model=base.model, backend=base.backend, device=base.device)
