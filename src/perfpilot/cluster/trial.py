"""The node side of a trial: a Ray task that holds its node (the ``perfpilot_node``
resource), places shipped artifacts in the node's cache, runs exactly what ``perfpilot
run`` runs (``run_benchmark``: one child process per LoadGen test, a fresh run directory
and run.json each) in a scratch workspace, and returns the run directories as archives."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfpilot.cluster.ship import Bundle, held, pack, place
from perfpilot.records import RunRecord

if TYPE_CHECKING:
    from perfpilot.engine.live import LiveStats

#: How often a trial tells the driver's progress board where it is (seconds).
REPORT_EVERY_S = 1.0


@dataclass
class TrialSpec:
    """What the driver sends: the run configs (as JSON dicts), the command and tags to
    record, the artifacts the trial needs (each with its object-store copy, wrapped in a
    list so that Ray fetches it only when the node's cache lacks it)."""

    key: str
    label: str
    configs: list[dict[str, Any]]
    command: list[str]
    tags: dict[str, str]
    bundles: list[Bundle] = field(default_factory=list)
    shipped: list[list[Any]] = field(default_factory=list)
    board: Any = None


@dataclass
class RunBack:
    """One run as it comes back: its record (JSON) and its run directory (tar)."""

    record_json: str
    archive: bytes


@dataclass
class TrialResult:
    key: str
    node: dict[str, Any]
    runs: list[RunBack]
    shipped: list[str]
    started: float  # time.time() on the node, around the runs
    finished: float


@lru_cache(maxsize=4)
def _system(backend: str) -> dict[str, Any]:
    """The node's system description (as ``perfpilot system describe`` finds it)."""
    from perfpilot.submission.system import detect

    try:
        return detect(backend)
    except Exception as err:  # noqa: BLE001 - a description is provenance, not a result
        return {"error": f"{type(err).__name__}: {err}"}


def node_facts(backend: str) -> dict[str, Any]:
    """Hostname, Ray node id and address, labels, and system description of this node."""
    import platform

    import ray

    ctx = ray.get_runtime_context()
    node_id = ctx.get_node_id()
    labels: dict[str, Any] = {}
    try:
        labels = {k: v for k, v in ctx.get_node_labels().items() if not k.startswith("ray.io/")}
    except Exception:  # noqa: BLE001 - labels are a nicety
        labels = {}
    return {
        "hostname": platform.node(),
        "ray_node_id": node_id,
        "ip": ray.util.get_node_ip_address(),
        "labels": labels,
        "system": _system(backend),
    }


def run_back(record: RunRecord) -> RunBack:
    """A finished run as it travels back to the driver: its record and its folder."""
    run_dir = Path(record.run_dir)
    files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    return RunBack(record.model_dump_json(), pack(run_dir, files))


def _tell(board: Any, node: str, line: dict[str, Any] | None) -> None:
    """Update the driver's progress board; a board being restarted misses a line."""
    try:
        board.update.remote(node, line)
    except Exception:  # noqa: BLE001 - progress never fails a trial
        pass


def run_trial(spec: TrialSpec) -> TrialResult:
    """Run one trial on this node (called by Ray)."""
    import ray

    from perfpilot.artifacts import cache_dir
    from perfpilot.config.run import RunConfig
    from perfpilot.engine.runner import run_benchmark
    from perfpilot.workspace import Workspace

    node_id = ray.get_runtime_context().get_node_id()
    scratch = cache_dir() / "cluster-work"  # the node's own disk, beside its cache
    facts = node_facts(str(spec.configs[0].get("backend", "onnxruntime")))
    shipped = []
    for bundle, ref in zip(spec.bundles, spec.shipped, strict=True):
        if not held(bundle):
            place(bundle, ray.get(ref[0]))
            shipped.append(bundle.relative)
    scratch.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="trial-", dir=scratch)))
    short = f"{facts['hostname']}/{node_id[:8]}"
    last = [0.0]

    def progress(
        label: str, elapsed: float, expected: float | None, live: LiveStats | None
    ) -> None:
        now = time.monotonic()
        if spec.board is not None and now - last[0] >= REPORT_EVERY_S:
            last[0] = now
            _tell(
                spec.board,
                short,
                {
                    "trial": spec.label,
                    "test": label,
                    "elapsed": elapsed,
                    "expected": expected,
                    "samples": None if live is None else live.samples,  # once the test runs
                },
            )

    started = time.time()
    try:
        configs = [RunConfig.model_validate(c) for c in spec.configs]
        records = run_benchmark(configs, workspace, spec.command, progress, tags=spec.tags)
        finished = time.time()
        runs = [run_back(record) for record in records]
    finally:
        if spec.board is not None:
            _tell(spec.board, short, None)
        shutil.rmtree(workspace.root, ignore_errors=True)
    facts.update(shipped=shipped, trial_started=started, trial_finished=finished)
    return TrialResult(spec.key, facts, runs, shipped, started, finished)
