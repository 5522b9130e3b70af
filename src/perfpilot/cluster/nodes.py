"""The cluster's perfpilot nodes: which there are, which a ``--nodes key=value`` label
selects, and whether each has perfpilot and the backend's runtime (asked before any
trial starts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from perfpilot.cluster.session import NODE_RESOURCE, START_HINT
from perfpilot.errors import UsageError

#: How long a node may take to answer the install check (a worker process starts first).
PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Node:
    """One Ray node that declares the perfpilot resource."""

    node_id: str
    hostname: str
    ip: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def short(self) -> str:
        """``hostname/1a2b3c4d``: nodes of one machine (a local cluster) told apart."""
        return f"{self.hostname}/{self.node_id[:8]}"


def parse_selector(text: str | None) -> dict[str, str]:
    """``gpu=h100,rack=a`` -> {"gpu": "h100", "rack": "a"} (every pair must match)."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"invalid --nodes {text!r}", "Give KEY=VALUE labels, e.g. --nodes gpu=h100."
            )
        out[key.strip()] = value.strip()
    return out


def perfpilot_nodes(address: str, selector: dict[str, str] | None = None) -> list[Node]:
    """The alive nodes with the perfpilot resource that match ``selector``."""
    import ray

    found = []
    labelled: dict[str, set[str]] = {}
    for raw in ray.nodes():
        if not raw.get("Alive") or not raw.get("Resources", {}).get(NODE_RESOURCE):
            continue
        labels = {str(k): str(v) for k, v in (raw.get("Labels") or {}).items()}
        for key, value in labels.items():
            labelled.setdefault(key, set()).add(value)
        node = Node(
            node_id=str(raw["NodeID"]),
            hostname=str(raw.get("NodeManagerHostname") or raw.get("NodeManagerAddress")),
            ip=str(raw.get("NodeManagerAddress")),
            labels=labels,
        )
        if all(labels.get(k) == v for k, v in (selector or {}).items()):
            found.append(node)
    if not labelled and not found:
        raise UsageError(
            f"the Ray cluster at {address} has no node with the {NODE_RESOURCE} resource",
            f"Start each node with ray start ... --resources='{{\"{NODE_RESOURCE}\": 1}}' "
            "(see docs/cluster.md).",
        )
    if not found:
        wanted = ",".join(f"{k}={v}" for k, v in (selector or {}).items())
        have = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(labelled.items()))
        raise UsageError(
            f"no node of the Ray cluster at {address} has the labels {wanted}",
            f"Labels the nodes have: {have or 'none'}.",
        )
    return sorted(found, key=lambda n: (n.hostname, n.node_id))


def check_nodes(nodes: Sequence[Node], backends: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Ask every node what it lacks (perfpilot, each backend's runtime); a usage error
    naming each node and what to install there, before any trial starts. Returns each
    node's answer by node id; a node that died but is still listed has none."""
    import ray
    import ray.cloudpickle
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from perfpilot.backends.registry import all_backends, get_backend_entry
    from perfpilot.cluster import probe

    needs: dict[str, str] = {}  # module -> what installs it
    for name in backends:
        # the table, not an install check: the driver itself may lack the runtime
        entry = all_backends().get(name) or get_backend_entry(name)
        for module in entry.requires:
            needs[module] = entry.install_hint()
    ray.cloudpickle.register_pickle_by_value(probe)  # runs where perfpilot is missing, too
    task = ray.remote(probe.probe)
    refs = {
        node.node_id: task.options(
            num_cpus=0,
            max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(sorted(needs))
        for node in nodes
    }
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=PROBE_TIMEOUT_S)
    answers: dict[str, dict[str, Any]] = {}
    problems = []
    for node in nodes:
        ref = refs[node.node_id]
        if ref not in ready:
            ray.cancel(ref, force=True)
            problems.append(f"node {node.short} ({node.ip}) did not answer in {PROBE_TIMEOUT_S:g}s")
            continue
        try:
            got: dict[str, Any] = ray.get(ref)
        except (ray.exceptions.TaskUnschedulableError, ray.exceptions.NodeDiedError):
            continue  # listed, but gone (the cluster has not noticed yet): left out
        except ray.exceptions.RayError as err:
            problems.append(
                f"node {node.short} ({node.ip}) failed the check ({type(err).__name__})"
            )
            continue
        answers[node.node_id] = got
        lacks = [] if got["perfpilot"] else ["perfpilot (pip install perfpilot)"]
        lacks += [f"{m} ({needs[m]})" for m in got["missing"]]
        if lacks:
            problems.append(f"node {node.short} ({node.ip}) lacks {', '.join(lacks)}")
    if problems:
        raise UsageError(
            "; ".join(problems),
            "Install what is named on those nodes, or leave them out with --nodes KEY=VALUE.",
        )
    if not answers:
        raise UsageError("every perfpilot node of the cluster has left it", START_HINT)
    return answers
