"""What the cluster path costs, on a local multi-node Ray cluster (127.0.0.1).

1. Per-trial overhead: one null-backend trial through ``Dispatcher`` (schedule, ship the
   run directory back, unpack, record, index) against the same trial's time on its node
   (measured there, around ``run_benchmark``) and against ``run_benchmark`` run directly
   here. Target: <= 1 s added.
2. Sweep wall time: N equal trials on K nodes against N/K times one trial's time on a node
   (ceil(N/K) rounds of K at once), that trial time measured alone and without perfpilot's
   overhead, so the ratio charges everything the cluster path adds. Target: within 10%.
   Trials are null-backend Server runs at a low QPS: LoadGen sleeps until each query's
   time and the harness blocks on its queue, so a trial is paced, not CPU-bound. What is
   CPU-bound (the LoadGen child's start, writing its logs) is measured: ``trial_cpu_s``
   (CPU seconds of a trial run here) and ``cpu_demand`` (K trials' CPU over this
   machine's cores during one trial time; above 1, the K nodes of this one machine slow
   each other down, which K separate machines would not). ``sweep.trial_on_node_s`` is the
   trials' own time on their nodes during the sweep, beside the alone figure.
3. Scheduler and database throughput for a 64-node cluster and 2,000 null-backend
   trials, simulated: a 64-node cluster cannot start on 2 cores, so K real nodes declare
   64 ``perfpilot_node`` units between them (64 trials placed at once, as on 64 nodes),
   and each trial is a Ray task that returns a real null-backend run directory (made once
   by a real run, each copy under a new run id) instead of running LoadGen again. The
   trials go through the real driver (``Dispatcher.run``: scheduling with the node
   resource, waiting, bringing each run directory back, recording and indexing it), with
   only the node side replaced. Reported: trials completed per second end to end (the
   scheduler's throughput with the driver's work included), when Ray had finished the
   last trial (the scheduler alone), and records indexed per second in the database
   (the time inside the indexing hook; ``--db URL`` indexes into that database, e.g.
   PostgreSQL, instead of the workspace's SQLite file).

Usage: python bench/cluster_overhead.py [--quick] [--nodes 3] [--trials 9] [--seconds 3]
                                        [--simulated 2000] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 127.0.0.1 (session.py)

from perfpilot.cluster.dispatch import Dispatcher, Trial
from perfpilot.cluster.session import NODE_RESOURCE, ClusterSession, start_local
from perfpilot.cluster.trial import RunBack, TrialResult, TrialSpec, run_back
from perfpilot.config import build_run_configs
from perfpilot.engine.runner import run_benchmark
from perfpilot.records import RunRecord
from perfpilot.results.db import ResultsDB, indexer
from perfpilot.workspace import Workspace


def null_configs(seconds: float, tag: int) -> list[Any]:
    # a distinct config per trial (target_qps differs in the last digit): equal work
    return build_run_configs(
        "Server", "performance", model="digits-cnn", backend="null", dataset_size=64,
        target_qps=50 + tag * 1e-3, min_duration_ms=int(seconds * 1000), min_query_count=1,
    )  # fmt: skip


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the LoadGen child)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def simulated_trial(template: RunBack) -> Callable[[TrialSpec], TrialResult]:
    """The node side of a simulated trial: the template run under a run id of its own
    (Ray sends the function, with the template, to each node once)."""

    def sim_trial(spec: TrialSpec) -> TrialResult:
        import ray

        started = time.time()
        record = json.loads(template.record_json)
        record["run_id"] = f"sim-{spec.key}"
        record["tags"] = {**record.get("tags", {}), **spec.tags}
        node_id = ray.get_runtime_context().get_node_id()
        node = {"hostname": "sim", "ray_node_id": node_id, "ip": "127.0.0.1"}
        run = RunBack(json.dumps(record), template.archive)
        return TrialResult(spec.key, node, [run], [], started, time.time())

    return sim_trial


def timed(hook: Callable[[Workspace, RunRecord], None], spent: list[float]) -> Any:
    def wrapper(workspace: Workspace, record: RunRecord) -> None:
        t0 = time.perf_counter()
        hook(workspace, record)
        spent.append(time.perf_counter() - t0)

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small figures (a few minutes)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--simulated", type=int, help="simulated trials (default 2000)")
    parser.add_argument("--db", help="index the simulated trials into this database URL")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.trials, args.seconds = 2, 4, 2.0
    if args.simulated is None:
        args.simulated = 200 if args.quick else 2000
    import ray

    root = Path(tempfile.mkdtemp(prefix="perfpilot-bench-cluster-"))
    os.environ.setdefault("PERFPILOT_CACHE", str(root / "driver-cache"))
    cluster = start_local(args.nodes, root)
    ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    session = ClusterSession(cluster.address)
    out: dict[str, Any] = {"nodes": args.nodes, "machine_cores": os.cpu_count()}
    try:
        ws = Workspace(root / "ws", on_record=indexer(None))
        direct_ws = Workspace(root / "direct", on_record=indexer(None))
        # warm-up: every node gets a worker process and the model
        Dispatcher(session, ws).run(
            [Trial(f"w{i}", "warm-up", null_configs(0.2, 900 + i)) for i in range(args.nodes)]
        )
        # 1. one trial: added time over the node's own and over a direct run here
        added, on_node, direct, cpu, paced = [], [], [], [], []
        for i in range(3):
            started = time.monotonic()
            trial = Trial(f"o{i}", "one", null_configs(args.seconds, i))
            o = Dispatcher(session, ws).run([trial])[0]
            wall = time.monotonic() - started
            assert o.started is not None and o.finished is not None, o.error
            on_node.append(o.finished - o.started)
            paced += [r.result.duration_s for r in o.records if r.result and r.result.duration_s]
            added.append(wall - (o.finished - o.started))
            t0, cpu0 = time.monotonic(), _cpu()
            run_benchmark(null_configs(args.seconds, 100 + i), direct_ws)
            direct.append(time.monotonic() - t0)
            cpu.append(_cpu() - cpu0)  # perfpilot's and the LoadGen child's CPU time
        one = statistics.median(on_node)
        out["trial_on_node_s"] = round(one, 3)
        out["trial_direct_here_s"] = round(statistics.median(direct), 3)
        out["overhead_per_trial_s"] = round(statistics.median(added), 3)
        out["trial_loadgen_s"] = round(statistics.median(paced), 3)  # LoadGen's own test
        out["trial_cpu_s"] = round(statistics.median(cpu), 3)
        out["cpu_demand"] = round(
            args.nodes * statistics.median(cpu) / (one * (os.cpu_count() or 1)), 3
        )
        # 2. N trials on K nodes against ceil(N/K) trial times (the trial alone, on a node)
        started = time.monotonic()
        outcomes = Dispatcher(session, ws).run(
            [
                Trial(f"s{i}", "sweep", null_configs(args.seconds, 200 + i))
                for i in range(args.trials)
            ]
        )
        wall = time.monotonic() - started
        assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
        in_sweep = statistics.median(
            o.finished - o.started for o in outcomes if o.finished and o.started
        )
        rounds = -(-args.trials // args.nodes)
        ideal = rounds * one
        with_overhead = rounds * (one + statistics.median(added))
        out["sweep"] = {
            "trials": args.trials, "rounds": rounds, "wall_s": round(wall, 2),
            "ideal_s": round(ideal, 2), "ratio": round(wall / ideal, 3),
            "ideal_with_overhead_s": round(with_overhead, 2),
            # the trials' own time on their nodes during the sweep: longer than alone
            # when the K nodes of this one machine slow each other down
            "trial_on_node_s": round(in_sweep, 3),
            "ratio_at_that_trial_time": round(wall / (rounds * in_sweep), 3),
            "trial_loadgen_s": round(
                statistics.median(
                    r.result.duration_s for o in outcomes for r in o.records
                    if r.result and r.result.duration_s
                ), 3,
            ),
        }  # fmt: skip
        # 3. simulated 64 nodes: real driver, node side replaced by a copy of a real run
        template = run_back(ws.records()[-1])
        per_node = -(-64 // args.nodes)
        # Ray cannot change a running node's resources: the slots come with a new cluster
        ray.shutdown()
        cluster.shutdown()
        cluster = start_local_sim(args.nodes, per_node, root)
        ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False,
                 logging_level=logging.ERROR)  # fmt: skip
        spent: list[float] = []
        sim_ws = Workspace(root / "sim", on_record=timed(indexer(args.db), spent))
        driver = Dispatcher(ClusterSession(cluster.address), sim_ws)
        driver._task = ray.remote(simulated_trial(template))  # the node side, simulated
        trials = [
            Trial(f"{i:05d}", "sim", null_configs(0.1, 0), {"bench": root.name})
            for i in range(args.simulated)
        ]
        started, wall0 = time.monotonic(), time.time()
        outcomes = driver.run(trials)
        total = time.monotonic() - started
        assert all(o.error is None and len(o.records) == 1 for o in outcomes)
        ray_done = max(o.finished or 0.0 for o in outcomes) - wall0
        if args.db:
            with ResultsDB.open(args.db, create=False) as db:
                rows = len(db.rows(tag={"bench": root.name}))
        else:
            with ResultsDB.open(sim_ws, create=False) as db:
                rows = len(db.rows())
        out["simulated"] = {
            "virtual_nodes": per_node * args.nodes, "real_nodes": args.nodes,
            "trials": args.simulated, "database": args.db or "sqlite (the workspace's file)",
            "run_dir_kib": round(len(template.archive) / 1024, 1),
            "total_s": round(total, 2),
            "trials_per_s": round(args.simulated / total, 1),
            "ray_done_s": round(ray_done, 2),
            "ray_trials_per_s": round(args.simulated / ray_done, 1),
            "indexed_per_s": round(len(spent) / sum(spent), 1),
            "index_ms_median": round(1000 * statistics.median(spent), 2),
            "db_rows": rows,
        }  # fmt: skip
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(out, indent=2))


def start_local_sim(count: int, slots: int, root: Path) -> Any:
    """K real nodes that declare ``slots`` perfpilot_node units each (the simulation)."""
    from ray.cluster_utils import Cluster

    from perfpilot.cluster.session import LOCAL_NODE

    args = {**LOCAL_NODE, "resources": {NODE_RESOURCE: slots}, "node_ip_address": "127.0.0.1"}
    sim = Cluster(initialize_head=True, head_node_args={**args, "include_dashboard": False})
    for _ in range(count - 1):
        sim.add_node(**args)
    sim.wait_for_nodes()
    return sim


if __name__ == "__main__":
    main()
