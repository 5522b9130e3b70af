"""A sweep on a cluster: every unfinished point is one trial (one node, all its tests);
Ray runs as many at once as there are free nodes. A rerun resumes: a point whose tests
are all recorded ok for this sweep and point id is skipped, wherever it ran."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from perfpilot.cluster.dispatch import Dispatcher, Outcome, ProgressFn, Trial
from perfpilot.cluster.session import ClusterSession
from perfpilot.records import RunRecord
from perfpilot.tune.sweep import PointOutcome, SweepRun, SweepSpec, sweep_records
from perfpilot.workspace import Workspace


def _done_tests(workspace: Workspace, name: str) -> dict[tuple[str, str, str], RunRecord]:
    """(point id, scenario, mode) -> its latest ok record in sweep ``name``. By point id,
    not by resolved config: nodes resolve threads from their own cores."""
    done = {}
    for rec in sweep_records(workspace, name):
        if rec.status == "ok" and "point" in rec.tags:
            done[(rec.tags["point"], rec.scenario, rec.mode)] = rec
    return done


def run_sweep_on_cluster(
    spec: SweepSpec,
    workspace: Workspace,
    session: ClusterSession,
    command: Sequence[str] = (),
    on_point: Callable[[int, int, PointOutcome], None] | None = None,
    progress: ProgressFn | None = None,
) -> SweepRun:
    """Run every point not already finished, one trial per point on the cluster."""
    done = _done_tests(workspace, spec.name)
    out = SweepRun(spec.name)
    total = len(spec.points)
    trials: list[Trial] = []
    kept: dict[str, list[RunRecord]] = {}
    index = {p.point_id: i for i, p in enumerate(spec.points, 1)}
    for point in spec.points:
        configs = point.configs()
        have = [done.get((point.point_id, c.scenario, c.mode)) for c in configs]
        if all(have):
            outcome = PointOutcome(point, [r for r in have if r is not None], skipped=True)
            out.outcomes.append(outcome)
            if on_point is not None:
                on_point(index[point.point_id], total, outcome)
            continue
        kept[point.point_id] = [r for r in have if r is not None]
        todo = [c for c, r in zip(configs, have, strict=True) if r is None]
        tags = {"sweep": spec.name, "point": point.point_id}
        trials.append(Trial(point.point_id, f"{point.point_id} {point.label()}", todo, tags))
    by_id = {p.point_id: p for p in spec.points}

    def finished(outcome: Outcome) -> None:
        point = by_id[outcome.trial.key]
        if outcome.error:
            out.errors[point.point_id] = outcome.error
        po = PointOutcome(point, kept[point.point_id] + outcome.records, skipped=False)
        out.outcomes.append(po)
        if on_point is not None:
            on_point(index[point.point_id], total, po)

    if trials:
        Dispatcher(session, workspace, command, progress, on_outcome=finished).run(trials)
    out.outcomes.sort(key=lambda o: index[o.point.point_id])
    return out
