"""The driver side: trials go to the cluster as Ray tasks (Ray schedules them; each asks
for a whole node), their run directories come back into the workspace as they finish,
recorded there (the workspace's hook indexes them) with the node they ran on.

A trial whose node dies is run again by Ray on another node (its task's retries); only a
finished trial's runs come back, so each is recorded once. Ctrl-C cancels every task (a
running test is stopped as ``perfpilot run`` stops it) before it is raised again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfpilot.cluster.nodes import Node
from perfpilot.cluster.session import NODE_RESOURCE, ClusterSession
from perfpilot.cluster.ship import Bundle, bundle_for, pack, unpack_run
from perfpilot.cluster.trial import RunBack, TrialResult, TrialSpec, run_trial
from perfpilot.config.run import RunConfig
from perfpilot.errors import PerfpilotError
from perfpilot.records import RunRecord
from perfpilot.workspace import RUN_RECORD, Workspace

#: Ray runs a trial again after its node or worker died, this many times at most.
NODE_RETRIES = 3
#: After Ctrl-C, how long running trials get to stop their test and end cleanly.
CANCEL_GRACE_S = 15.0
#: How often the driver redraws progress while it waits (seconds).
POLL_S = 0.5

#: progress(lines by node, trials finished, trials in all); a line is a dict with trial,
#: test, elapsed and expected seconds.
ProgressFn = Callable[[dict[str, dict[str, Any]], int, int], None]


@dataclass
class Trial:
    """One unit of work for one node: a sweep point, a tuning trial, a fleet node's run."""

    key: str
    label: str
    configs: list[RunConfig]
    tags: dict[str, str] = field(default_factory=dict)
    node: Node | None = None  # a fleet pins each trial to its node; None: any node


@dataclass
class Outcome:
    trial: Trial
    records: list[RunRecord]
    node: dict[str, Any] | None = None
    error: str | None = None
    started: float | None = None  # on the node, time.time()
    finished: float | None = None
    shipped: list[str] = field(default_factory=list)


class _Board:
    """The progress board: trials write where they are, the driver reads (a Ray actor)."""

    def __init__(self) -> None:
        self.lines: dict[str, dict[str, Any]] = {}

    def update(self, node: str, line: dict[str, Any] | None) -> None:
        if line is None:
            self.lines.pop(node, None)
        else:
            self.lines[node] = line

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return dict(self.lines)


def _start_board() -> Any:
    """The progress board, on the driver's node where it has one (soft: else anywhere),
    restarted by Ray elsewhere if its node dies (progress is not worth a failed sweep)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options: dict[str, Any] = {"num_cpus": 0, "max_restarts": -1}
    try:
        here = ray.get_runtime_context().get_node_id()
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(here, soft=True)
    except Exception:  # noqa: BLE001 - a Ray Client driver is on no node: anywhere
        pass
    return ray.remote(_Board).options(**options).remote()


def _node_failure() -> tuple[type[BaseException], ...]:
    import ray.exceptions as rex

    return (
        rex.NodeDiedError,
        rex.WorkerCrashedError,
        rex.ObjectLostError,
        rex.TaskUnschedulableError,
        rex.LocalRayletDiedError,
    )


class Dispatcher:
    """Runs trials on a connected cluster and brings their runs into ``workspace``."""

    def __init__(
        self,
        session: ClusterSession,
        workspace: Workspace,
        command: Sequence[str] = (),
        progress: ProgressFn | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        import ray

        self.session = session
        self.workspace = workspace
        self.command = list(command)
        self.progress = progress
        self.on_outcome = on_outcome
        self._task = ray.remote(run_trial)
        self._board = _start_board() if progress else None
        self._shipped: dict[str, tuple[Bundle, Any]] = {}  # sha256 -> bundle, object ref
        self._staged: dict[str, list[tuple[Bundle, Any]]] = {}  # files key -> artifacts

    # -- artifacts -------------------------------------------------------------------------
    def _artifacts(self, configs: Sequence[RunConfig]) -> list[tuple[Bundle, Any]]:
        """The model files the trial needs, each put in the object store once (checked
        and built or fetched here first, as ``perfpilot run`` does: bad input fails before
        any trial starts)."""
        import ray

        from perfpilot.artifacts import cache_dir
        from perfpilot.engine.prepare import prepare

        out = []
        for cfg in configs:
            prepared = prepare(cfg)
            sha = prepared.model_record.sha256
            if prepared.model_file is None or sha is None:
                continue
            if sha not in self._shipped:
                bundle = bundle_for(prepared.model_file, sha)
                if bundle is None:
                    continue
                self._shipped[sha] = (bundle, ray.put(pack(cache_dir(), bundle.files)))
            if self._shipped[sha] not in out:
                out.append(self._shipped[sha])
        return out

    def _staged_for(self, cfg: RunConfig) -> list[tuple[Bundle, Any]]:
        key = json.dumps(
            [cfg.model, cfg.backend, cfg.device, str(cfg.model_path), str(cfg.dataset_path),
             cfg.dataset_size, cfg.precision, cfg.backend_options],
            sort_keys=True,
        )  # fmt: skip
        if key not in self._staged:
            self._staged[key] = self._artifacts([cfg])
        return self._staged[key]

    def prepare(self, trials: Sequence[Trial]) -> None:
        """Check every trial's configs and stage its artifacts (before any trial runs)."""
        for trial in trials:
            for cfg in trial.configs:
                self._staged_for(cfg)

    def _submit(self, trial: Trial) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        artifacts = []
        for cfg in trial.configs:
            for item in self._staged_for(cfg):
                if item not in artifacts:
                    artifacts.append(item)
        spec = TrialSpec(
            key=trial.key,
            label=trial.label,
            configs=[json.loads(c.model_dump_json()) for c in trial.configs],
            command=self.command,
            tags=trial.tags,
            bundles=[b for b, _ in artifacts],
            shipped=[[ref] for _, ref in artifacts],
            board=self._board,
        )
        options: dict[str, Any] = {
            "num_cpus": 0,
            "resources": {NODE_RESOURCE: 1},
            "max_retries": NODE_RETRIES,
            "retry_exceptions": False,
        }
        if trial.node is not None:  # a fleet's run belongs to its node: no retry elsewhere
            options["max_retries"] = 0
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                trial.node.node_id, soft=False
            )
        return self._task.options(**options).remote(spec)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, trials: Sequence[Trial]) -> list[Outcome]:
        """Run ``trials`` (all queued at once; Ray starts each when a node is free) and
        return their outcomes in the order given."""
        import ray

        self.prepare(trials)
        pending = {self._submit(t): t for t in trials}
        done: dict[str, Outcome] = {}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    trial = pending.pop(ref)
                    outcome = self._collect(ref, trial)
                    done[trial.key] = outcome
                    if self.on_outcome is not None:
                        self.on_outcome(outcome)
                if self.progress is not None and self._board is not None:
                    try:
                        lines = ray.get(self._board.snapshot.remote(), timeout=POLL_S * 4)
                    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                        lines = {}  # its node died: Ray restarts it elsewhere, lines refill
                    self.progress(lines, len(done), len(trials))
        except BaseException:
            self.cancel(list(pending))
            raise
        return [done[t.key] for t in trials]

    def _collect(self, ref: Any, trial: Trial) -> Outcome:
        import ray

        try:
            result: TrialResult = ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, PerfpilotError):
                raise cause from err  # bad input found on the node: as 'perfpilot run' says it
            text = str(cause or err).strip().splitlines()
            return Outcome(
                trial, [], error=f"the trial failed on its node: {text[-1] if text else err}"
            )
        except _node_failure() as err:
            where = f" {trial.node.short}" if trial.node else ""
            return Outcome(
                trial, [], error=f"its node{where} died or left ({type(err).__name__}); no result"
            )
        records = [bring_back(self.workspace, run, result.node) for run in result.runs]
        return Outcome(
            trial, records, result.node, None, result.started, result.finished, result.shipped
        )

    def cancel(self, refs: list[Any]) -> None:
        """Stop every task: first as Ctrl-C stops a run (the test is stopped and the task
        ends), then by force for any that did not end in time."""
        import ray

        if not refs:
            return
        for ref in refs:
            ray.cancel(ref, force=False)
        deadline = time.monotonic() + CANCEL_GRACE_S
        left = list(refs)
        while left and time.monotonic() < deadline:
            _, left = ray.wait(left, num_returns=len(left), timeout=0.5)
        for ref in left:
            ray.cancel(ref, force=True)


def bring_back(workspace: Workspace, run: RunBack, node: dict[str, Any]) -> RunRecord:
    """Unpack a run directory into ``workspace`` and record it (run.json last) with the
    node it ran on (``node``: the trial's node facts); a run already there is not
    recorded twice."""
    record = RunRecord.model_validate_json(run.record_json)
    target = workspace.runs_dir / record.run_id
    if (target / RUN_RECORD).exists():
        return workspace.load(record.run_id)
    unpack_run(run.archive, target, RUN_RECORD)
    node_tag = f"{node['hostname']}/{str(node['ray_node_id'])[:8]}"
    record = record.model_copy(
        update={
            "run_dir": str(Path(target)),
            "provenance": {**record.provenance, "node": node},
            "tags": {**record.tags, "node": node_tag},
        }
    )
    workspace.write_record(record)
    return record
