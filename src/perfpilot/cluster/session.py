"""Connecting to a Ray cluster, or starting a throwaway one of N nodes on this machine.

ADDRESS is what ``ray.init`` takes (``ray://host:10001``, ``host:6379``, ``auto``) or
``local:N``. Every node of a local cluster, and the driver, use 127.0.0.1."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.errors import MissingExtraError, UsageError

#: The custom resource a perfpilot node declares once (``ray start --resources``); a trial
#: asks for all of it, so no two trials ever share a node.
NODE_RESOURCE = "perfpilot_node"
#: How each node of a ``local:N`` cluster is kept small on a laptop or a CI machine.
LOCAL_NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
START_HINT = (
    "Start one with: ray start --head --node-ip-address=127.0.0.1 "
    f"--resources='{{\"{NODE_RESOURCE}\": 1}}' (then --cluster auto), or use --cluster local:3"
)

_LOCAL = re.compile(r"local:(\d+)")


@dataclass
class ClusterSession:
    """A connected driver: the address given, and for ``local:N`` the cluster it owns."""

    address: str
    local: Any = None  # ray.cluster_utils.Cluster for local:N

    @property
    def is_local(self) -> bool:
        return self.local is not None


def _import_ray(loopback: bool = False) -> Any:
    if loopback:
        # Ray asks the network for this machine's address unless clusters are "single
        # machine" ones; a cluster on 127.0.0.1 needs the driver on it too (read at import).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as err:
        raise MissingExtraError(
            "--cluster needs Ray, which is not installed", "pip install 'perfpilot[cluster]'."
        ) from err
    return ray


def parse_local(address: str) -> int | None:
    """N of ``local:N`` (at least 1), None for any other address."""
    match = _LOCAL.fullmatch(address.strip())
    if match is None:
        if address.strip().startswith("local"):
            raise UsageError(
                f"invalid cluster address {address!r}", "Give local:N with N nodes, e.g. local:3."
            )
        return None
    count = int(match.group(1))
    if count < 1:
        raise UsageError(f"invalid cluster address {address!r}", "local:N needs N >= 1.")
    return count


def _reachable(address: str) -> None:
    """A quick TCP check of host:port addresses, so a wrong address fails in a second
    instead of Ray's minute of retries."""
    text = address.removeprefix("ray://")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        if address != "auto":
            raise UsageError(
                f"invalid cluster address {address!r}",
                "Give ray://HOST:10001, HOST:6379, auto or local:N.",
            )
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UsageError(
            f"cannot reach the Ray cluster at {address} ({reason})", START_HINT
        ) from err


def start_local(count: int, root: Path, labels: list[dict[str, str]] | None = None) -> Any:
    """A Ray cluster of ``count`` nodes on this machine (Ray's own multi-node test
    cluster): one ``perfpilot_node`` each, 127.0.0.1, no dashboard, small object stores,
    and an artifact cache of its own each (``root/node-I/cache``), as separate machines
    would have. ``labels[i]`` are node i's Ray labels."""
    _import_ray(loopback=True)
    from ray.cluster_utils import Cluster

    def node_args(index: int) -> dict[str, Any]:
        cache = root / f"node-{index}" / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        return {
            **LOCAL_NODE,
            "resources": {NODE_RESOURCE: 1},
            "node_ip_address": "127.0.0.1",
            "labels": {"perfpilot-local-node": str(index), **(labels or [{}] * count)[index]},
            "env_vars": {"PERFPILOT_CACHE": str(cache)},  # inherited by the node's workers
        }

    cluster = Cluster(
        initialize_head=True,
        head_node_args={**node_args(0), "include_dashboard": False},
    )
    try:
        for index in range(1, count):
            cluster.add_node(**node_args(index))
        cluster.wait_for_nodes()
    except BaseException:
        cluster.shutdown()
        raise
    return cluster


@contextlib.contextmanager
def connect(address: str) -> Iterator[ClusterSession]:
    """Connect this process to the cluster at ``address`` (starting it for ``local:N``)
    for the block; tasks still running at its end are cancelled by Ray with the job."""
    count = parse_local(address)
    ray = _import_ray(loopback=count is not None or _ip(address) is not None)
    session = ClusterSession(address)
    root: Path | None = None
    try:
        if count is not None:
            root = Path(tempfile.mkdtemp(prefix="perfpilot-local-cluster-"))
            session.local = start_local(count, root)
            target = session.local.address
        else:
            _reachable(address)
            target = address
        try:
            ray.init(
                address=target,
                namespace="perfpilot",
                logging_level=logging.ERROR,
                log_to_driver=False,  # nodes' own chatter stays in Ray's logs
                **({} if target.startswith("ray://") else {"_node_ip_address": _ip(target)}),
            )
        except (ConnectionError, RuntimeError) as err:
            raise UsageError(
                f"cannot connect to the Ray cluster at {address} ({str(err).splitlines()[0]})",
                START_HINT,
            ) from err
        yield session
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if session.local is not None:
            session.local.shutdown()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _ip(target: str) -> str | None:
    """The driver's own address: 127.0.0.1 when the cluster is on this machine."""
    host = target.rpartition(":")[0]
    return "127.0.0.1" if host.removeprefix("ray://") in ("127.0.0.1", "localhost") else None
