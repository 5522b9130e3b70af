"""A submission campaign: the plan's runs executed in order, recorded in the workspace
with tags, resumable. A run is reused only when it passed (VALID, or accurate enough)
with the same resolved config hash; any other earlier run is redone, and why is said."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.artifacts import atomic_write_text
from perfpilot.config.run import RunConfig, config_error
from perfpilot.errors import UsageError
from perfpilot.records import RunRecord, config_hash
from perfpilot.submission.plan import Plan, PlanItem
from perfpilot.userfiles import load_json
from perfpilot.workspace import Workspace

SCHEMA_VERSION = 1
CAMPAIGNS_DIR = "campaigns"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

#: Test-length campaigns: performance and compliance runs last this long (a plain test
#: run lasts 1 s), so that a compliance run's score, compared with its submission run's
#: within 10-20%, is not decided by a second of another job's load on a small machine.
TEST_CAMPAIGN_MIN_DURATION_MS = 3000
#: Test-length campaigns: a compliance run whose performance verification fails is run
#: again up to this many times in all (the figures of each try are reported); official
#: (valid) campaigns run each test once.
TEST_COMPLIANCE_ATTEMPTS = 3

#: on_event(item key, what happened: "reuse", "run", "done", "rerun-reason")
EventFn = Callable[[str, str], None]


def default_name(plan: Plan) -> str:
    return f"{plan.model}-{plan.backend}-{plan.division}-{plan.round}-{plan.category}".replace(
        ",", "_"
    )


def campaign_path(workspace: Workspace, name: str) -> Path:
    if not _NAME.match(name):
        raise UsageError(
            f"invalid campaign name {name!r}", "Use letters, digits, '.', '_' and '-'."
        )
    return workspace.root / CAMPAIGNS_DIR / f"{name}.json"


@dataclass
class ItemOutcome:
    """What happened to one plan item in this campaign invocation."""

    item: PlanItem
    record: RunRecord
    reused: bool
    passed: bool
    note: str = ""
    warning: bool = False  # passed with a finding that does not count (open division)


def item_config(plan: Plan, item: PlanItem, options: dict[str, Any]) -> RunConfig:
    """The RunConfig of a plan item (compliance tests run the performance config)."""
    mode = "accuracy" if item.kind == "accuracy" else "performance"
    if plan.execution == "test" and mode == "performance":
        options = {"min_duration_ms": TEST_CAMPAIGN_MIN_DURATION_MS, **options}
    try:
        return RunConfig(
            model=plan.model,
            backend=plan.backend,
            scenario=item.scenario,  # type: ignore[arg-type]
            mode=mode,  # type: ignore[arg-type]
            execution=plan.execution,  # type: ignore[arg-type]
            **options,
        )
    except Exception as err:
        from pydantic import ValidationError

        if isinstance(err, ValidationError):
            raise config_error(err) from err
        raise


def resolved_hash(cfg: RunConfig) -> tuple[str, dict[str, Any]]:
    """The config hash a run of ``cfg`` will record (the runner resolves the same way)."""
    from perfpilot.engine.prepare import resolve_config

    resolved = json.loads(resolve_config(cfg).model_dump_json())
    return config_hash(resolved), resolved


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return ", ".join(diffs) or "same settings"


def _why_not(rec: RunRecord) -> str:
    if rec.status != "ok":
        return f"{rec.status}: {rec.error or ''}".strip(": ")
    if rec.mode == "accuracy":
        return "accuracy below target" if rec.accuracy else "no accuracy result"
    reasons = rec.result.invalid_reasons if rec.result else []
    return "INVALID" + (f" ({'; '.join(reasons)})" if reasons else "")


class Campaign:
    """State of a campaign: ``<workspace>/campaigns/<name>.json`` (an index; the run records
    tagged ``campaign=<name>`` are the source of truth)."""

    def __init__(self, workspace: Workspace, name: str, plan: Plan) -> None:
        self.workspace = workspace
        self.name = name
        self.plan = plan
        self.path = campaign_path(workspace, name)
        self.skipped: list[str] = []  # items not run in this invocation (a missing reference)
        self.state: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "name": name,
            "plan": plan.to_dict(),
            "runs": {},
        }
        if self.path.exists():
            old = read_state(self.path)
            self._check_same_plan(old["plan"])
            self.state["runs"] = dict(old["runs"])

    def _check_same_plan(self, old: dict[str, Any]) -> None:
        for key in ("model", "round", "division", "category", "backend"):
            if old.get(key) is not None and old.get(key) != getattr(self.plan, key):
                raise UsageError(
                    f"campaign {self.name!r} was started for {key} {old.get(key)!r}, "
                    f"not {getattr(self.plan, key)!r}",
                    "Use another --name for a different submission.",
                )

    def tags(self, item: PlanItem) -> dict[str, str]:
        return {"campaign": self.name, "round": self.plan.round, "item": item.key}

    def previous(self, key: str) -> RunRecord | None:
        """The newest run of item ``key`` in this campaign (found by tag)."""
        found = [
            r
            for r in self.workspace.records()
            if r.tags.get("campaign") == self.name and r.tags.get("item") == key
        ]
        return found[-1] if found else None

    def record(self, item: PlanItem, rec: RunRecord, passed: bool) -> None:
        self.state["runs"][item.key] = {
            "run_id": rec.run_id,
            "config_hash": rec.config_hash,
            "status": rec.status,
            "passed": passed,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.state, indent=2) + "\n")

    def run_ids(self) -> dict[str, str]:
        """Item key -> run id of its latest run."""
        return {k: v["run_id"] for k, v in self.state["runs"].items()}


def run_campaign(
    plan: Plan,
    workspace: Workspace,
    options_for: Callable[[str], dict[str, Any]],
    name: str | None = None,
    command: Sequence[str] = (),
    progress: Any = None,
    on_event: EventFn | None = None,
    only: Sequence[str] | None = None,
) -> tuple[Campaign, list[ItemOutcome]]:
    """Execute (or resume) the plan. ``options_for(scenario)`` gives the RunConfig options
    (settings profile, command line). Ctrl-C stops after recording the run in progress."""
    from perfpilot.engine.runner import prepare_shown, run_one
    from perfpilot.submission import compliance

    campaign = Campaign(workspace, name or default_name(plan), plan)
    campaign.save()
    emit = on_event or (lambda key, text: None)
    session = f"{time.strftime('%Y%m%d-%H%M%S')}-campaign"
    outcomes: list[ItemOutcome] = []
    done: dict[str, RunRecord] = {}
    items = [i for i in plan.items if not only or {i.key, i.scenario, i.kind} & set(only)]
    configs = {i.key: item_config(plan, i, options_for(i.scenario)) for i in items}
    if not items:
        raise UsageError("nothing to run: --only matches no item of the plan")
    first = prepare_shown(configs[items[0].key], progress)  # bad input fails here, before any test
    labels = first.dataset.labels() if first.task.metric == "top-1" else None
    dtype = compliance.RESPONSE_DTYPE.get(first.task.metric, "byte")
    for item in items:
        cfg = configs[item.key]
        prev = campaign.previous(item.key)
        reference = done.get(f"{item.scenario}/performance")
        accuracy = done.get(f"{item.scenario}/accuracy")
        if item.is_compliance and reference is None:  # --only TEST01: an earlier invocation's
            reference = campaign.previous(f"{item.scenario}/performance")
            accuracy = accuracy or campaign.previous(f"{item.scenario}/accuracy")
        if item.is_compliance and reference is not None:
            cfg = compliance.pin_config(cfg, reference)
        want_hash, resolved = resolved_hash(cfg)
        if prev is not None:
            same = prev.config_hash == want_hash
            if item.is_compliance and same and prev.ok and reference is not None:
                check = compliance.verify(
                    item.kind,
                    prev,
                    reference,
                    accuracy,
                    labels,
                    dtype,
                    compliance.eos_token_id(first.model_file),
                )
                if check.passed and prev.tags.get("reference_run") == reference.run_id:
                    emit(item.key, f"reuse {prev.run_id} (VALID, same config, verified)")
                    outcomes.append(ItemOutcome(item, prev, True, True))
                    done[item.key] = prev
                    campaign.record(item, prev, True)
                    continue
                why = (
                    "its reference run changed"
                    if prev.tags.get("reference_run") != reference.run_id
                    else "its verification failed"
                )
                emit(item.key, f"rerun: {prev.run_id} cannot be reused ({why})")
            elif same and prev.ok and not item.is_compliance:
                emit(item.key, f"reuse {prev.run_id} (passed, same config hash)")
                outcomes.append(ItemOutcome(item, prev, True, True))
                done[item.key] = prev
                campaign.record(item, prev, True)
                continue
            elif not same:
                emit(
                    item.key,
                    f"rerun: config differs from {prev.run_id} "
                    f"({_differences(prev.config, resolved)})",
                )
            else:
                emit(item.key, f"rerun: {prev.run_id} did not pass ({_why_not(prev)})")
        warned = False
        if item.is_compliance:
            if reference is None or not reference.ok:
                emit(item.key, "skipped: the performance run of this scenario did not pass")
                campaign.skipped.append(item.key)
                continue
            attempts = TEST_COMPLIANCE_ATTEMPTS if plan.execution == "test" else 1
            for attempt in range(1, attempts + 1):
                emit(
                    item.key, "run" if attempt == 1 else f"run again (try {attempt} of {attempts})"
                )
                result = compliance.run_compliance(
                    item.kind,
                    cfg,
                    reference,
                    accuracy,
                    workspace,
                    plan.mlperf_model,
                    command,
                    progress,
                    tags=campaign.tags(item),
                )
                rec, passed = result.record, result.passed
                note = "; ".join(result.notes + [v.line() for v in result.verifications])
                if passed or not _performance_only(result):
                    break
                emit(item.key, f"try {attempt} failed {rec.run_id}: {note}")
            if not passed and plan.division == "open" and _performance_only(result):
                # the official checker skips compliance in the open division altogether
                warned = True
                note = f"not required in the open division, kept as it is; {note}"
                passed = True
        else:
            emit(item.key, "run")
            rec = run_one(
                cfg,
                first,
                workspace,
                session,
                command,
                progress,
                tags=campaign.tags(item),
            )
            passed, note = rec.ok, "" if rec.ok else _why_not(rec)
        campaign.record(item, rec, passed)
        outcomes.append(ItemOutcome(item, rec, False, passed, note, warned))
        done[item.key] = rec
        verdict = "WARN" if warned else ("PASS" if passed else "FAIL")
        emit(item.key, f"done {rec.run_id}: {verdict} {note}".rstrip())
    return campaign, outcomes


def load_campaign_runs(workspace: Workspace, name: str) -> dict[str, RunRecord]:
    """Item key -> run record of a campaign's latest runs (for ``generate``)."""
    path = campaign_path(workspace, name)
    if not path.exists():
        known = sorted(p.stem for p in (workspace.root / CAMPAIGNS_DIR).glob("*.json"))
        raise UsageError(
            f"no campaign {name!r} in {workspace.root}",
            "Known: "
            + (", ".join(known) if known else "none (run 'perfpilot submission run')")
            + ".",
        )
    state = read_state(path)
    return {key: workspace.load(v["run_id"]) for key, v in state["runs"].items()}


def load_campaign_plan(workspace: Workspace, name: str) -> dict[str, Any]:
    plan: dict[str, Any] = read_state(campaign_path(workspace, name))["plan"]
    return plan


def read_state(path: Path) -> dict[str, Any]:
    """A campaign file, with the shape perfpilot writes (a plan, runs with their ids);
    a UsageError naming the file otherwise."""
    hint = "Remove it: the runs stay in the workspace and are found again by tag."
    state: dict[str, Any] = load_json(path, "campaign file", hint=hint)
    plan, runs = state.get("plan"), state.get("runs", {})
    if (
        not isinstance(plan, dict)
        or not isinstance(runs, dict)
        or not all(isinstance(v, dict) and isinstance(v.get("run_id"), str) for v in runs.values())
    ):
        raise UsageError(
            f"campaign file {path} is damaged (no plan, or runs without their run ids)", hint
        )
    return state


def _performance_only(result: Any) -> bool:
    """Whether a compliance run failed only on its performance figure (the run itself
    finished; the accuracy part, if any, passed): a test-length run may try again."""
    return result.record.status == "ok" and all(
        v.passed for v in result.verifications if v.name != "verify_performance.txt"
    )
