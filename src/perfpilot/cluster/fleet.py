"""A fleet run: the same tests on every perfpilot node (or those a label selects), one
trial pinned to each node, recorded with the tag ``fleet=NAME`` for ``fleet report``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from perfpilot.cluster.dispatch import Dispatcher, Outcome, ProgressFn, Trial
from perfpilot.cluster.nodes import Node
from perfpilot.cluster.session import ClusterSession
from perfpilot.config.run import RunConfig
from perfpilot.workspace import Workspace


def run_fleet(
    name: str,
    configs: Sequence[RunConfig],
    nodes: Sequence[Node],
    workspace: Workspace,
    session: ClusterSession,
    command: Sequence[str] = (),
    on_outcome: Callable[[Outcome], None] | None = None,
    progress: ProgressFn | None = None,
) -> list[Outcome]:
    """Run ``configs`` once on each of ``nodes`` (a node that dies leaves its outcome
    with an error: its runs belong to it, so they are not moved to another node)."""
    trials = [
        Trial(node.node_id, node.short, list(configs), {"fleet": name}, node=node) for node in nodes
    ]
    return Dispatcher(session, workspace, command, progress, on_outcome).run(trials)
