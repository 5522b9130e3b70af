"""What the cluster path costs, on a local multi-node Ray cluster (127.0.0.1).

1. Per-trial overhead: one null-backend trial through ``Dispatcher`` (schedule, ship the
   run directory back, unpack, record, index) against the same trial's time on its node
   (measured there, around ``run_benchmark``) and against ``run_benchmark`` run directly
   here. Target: <= 1 s added.
2. Sweep wall time: N equal trials on K nodes against N/K times one trial's wall time.
   Trials are null-backend Server runs at a low QPS: LoadGen paces them, so K of them at
   once do not fight over this machine's cores as CPU-bound trials would.
3. Scheduler and database throughput for a 64-node cluster and 2,000 null-backend
   trials, simulated: a 64-node cluster cannot start on 2 cores, so K real nodes declare
   64 ``perfpilot_node`` units between them (64 trials placed at once, as on 64 nodes),
   and each trial is a Ray task that returns a real null-backend run directory (made once
   by a real run, its record given a new run id) instead of running LoadGen again. The
   driver brings every one back, records it and indexes it as for a real trial. Reported:
   trials scheduled and completed per second, and records brought back and indexed per
   second.

Usage: python bench/cluster_overhead.py [--quick] [--nodes 3] [--trials 9] [--seconds 3]
                                        [--simulated 2000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 127.0.0.1 (session.py)

from perfpilot.cluster.dispatch import Dispatcher, Trial
from perfpilot.cluster.session import NODE_RESOURCE, ClusterSession, start_local
from perfpilot.cluster.trial import RunBack
from perfpilot.config import build_run_configs
from perfpilot.engine.runner import run_benchmark
from perfpilot.results.db import ResultsDB, index_record
from perfpilot.workspace import Workspace


def null_configs(seconds: float, tag: int) -> list[Any]:
    # a distinct config per trial (target_qps differs in the last digit): equal work
    return build_run_configs(
        "Server", "performance", model="digits-cnn", backend="null", dataset_size=64,
        target_qps=50 + tag * 1e-3, min_duration_ms=int(seconds * 1000), min_query_count=1,
    )  # fmt: skip


def _sim_trial(template: RunBack, run_id: str) -> RunBack:
    record = json.loads(template.record_json)
    record["run_id"] = run_id
    return RunBack(json.dumps(record), template.archive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small figures (a minute or two)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--simulated", type=int, default=2000)
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.trials, args.seconds, args.simulated = 2, 4, 2.0, 200
    import ray

    root = Path(tempfile.mkdtemp(prefix="perfpilot-bench-cluster-"))
    os.environ.setdefault("PERFPILOT_CACHE", str(root / "driver-cache"))
    cluster = start_local(args.nodes, root)
    ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    session = ClusterSession(cluster.address)
    out: dict[str, Any] = {"nodes": args.nodes, "machine_cores": os.cpu_count()}
    try:
        ws = Workspace(root / "ws", on_record=index_record)
        direct_ws = Workspace(root / "direct", on_record=index_record)
        # warm-up: every node gets a worker process and the model
        Dispatcher(session, ws).run(
            [Trial(f"w{i}", "warm-up", null_configs(0.2, 900 + i)) for i in range(args.nodes)]
        )
        # 1. one trial: added time over the node's own and over a direct run here
        added, on_node, direct = [], [], []
        for i in range(3):
            started = time.monotonic()
            o = Dispatcher(session, ws).run([Trial(f"o{i}", "one", null_configs(args.seconds, i))])[
                0
            ]
            wall = time.monotonic() - started
            assert o.started is not None and o.finished is not None, o.error
            on_node.append(o.finished - o.started)
            added.append(wall - (o.finished - o.started))
            t0 = time.monotonic()
            run_benchmark(null_configs(args.seconds, 100 + i), direct_ws)
            direct.append(time.monotonic() - t0)
        out["trial_on_node_s"] = round(statistics.median(on_node), 3)
        out["trial_direct_here_s"] = round(statistics.median(direct), 3)
        out["overhead_per_trial_s"] = round(statistics.median(added), 3)
        # 2. N trials on K nodes
        one = statistics.median(on_node) + statistics.median(added)
        started = time.monotonic()
        Dispatcher(session, ws).run(
            [
                Trial(f"s{i}", "sweep", null_configs(args.seconds, 200 + i))
                for i in range(args.trials)
            ]
        )
        wall = time.monotonic() - started
        ideal = -(-args.trials // args.nodes) * one  # rounds of K trials
        out["sweep"] = {"trials": args.trials, "wall_s": round(wall, 2),
                        "ideal_s": round(ideal, 2), "ratio": round(wall / ideal, 3)}  # fmt: skip
        # 3. simulated 64 nodes, null-backend trials from one real run directory
        template_rec = ws.records()[-1]
        from perfpilot.cluster.ship import pack

        run_dir = Path(template_rec.run_dir)
        files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
        template = RunBack(template_rec.model_dump_json(), pack(run_dir, files))
        per_node = -(-64 // args.nodes)
        # Ray cannot change a running node's resources: the slots come with a new cluster
        sim = start_local_sim(args.nodes, per_node, root)
        ray.shutdown()
        cluster.shutdown()
        ray.init(address=sim.address, _node_ip_address="127.0.0.1", log_to_driver=False,
                 logging_level=logging.ERROR)  # fmt: skip
        cluster = sim
        task = ray.remote(_sim_trial).options(num_cpus=0, resources={NODE_RESOURCE: 1})
        template_ref = ray.put(template)
        sim_ws = Workspace(root / "sim", on_record=index_record)
        bringer = Dispatcher(ClusterSession(sim.address), sim_ws)
        started = time.monotonic()
        refs = [task.remote(template_ref, f"sim-{i:05d}") for i in range(args.simulated)]
        scheduled = time.monotonic() - started
        back_s = 0.0
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=min(64, len(pending)))
            for ref in ready:
                t0 = time.monotonic()
                bringer.bring_back(ray.get(ref), {"hostname": "sim", "ray_node_id": "sim"})
                back_s += time.monotonic() - t0
        total = time.monotonic() - started
        with ResultsDB.open(sim_ws) as db:
            rows = len(db.rows())
        out["simulated"] = {
            "virtual_nodes": per_node * args.nodes, "trials": args.simulated,
            "submit_s": round(scheduled, 2), "total_s": round(total, 2),
            "trials_per_s": round(args.simulated / total, 1),
            "bring_back_and_index_per_s": round(args.simulated / back_s, 1),
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
