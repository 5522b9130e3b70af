"""Re-run a recorded run from its resolved config and set old and new side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from perfpilot.errors import UsageError

if TYPE_CHECKING:
    from perfpilot.engine.runner import ProgressFn
    from perfpilot.records import RunRecord
    from perfpilot.workspace import Workspace


@dataclass(frozen=True)
class Figure:
    name: str
    old: Any
    new: Any

    @property
    def relative(self) -> float | None:
        """(new - old) / old for numbers, else None."""
        if isinstance(self.old, bool) or isinstance(self.new, bool):
            return None
        if isinstance(self.old, (int, float)) and isinstance(self.new, (int, float)) and self.old:
            return (float(self.new) - float(self.old)) / float(self.old)
        return None


@dataclass(frozen=True)
class Difference:
    what: str
    old: Any
    new: Any


#: Fewest earlier runs of the same config whose spread is taken as the run-to-run noise.
NOISE_MIN_RUNS = 2


@dataclass(frozen=True)
class Noise:
    """The run-to-run noise of a run's metric: the largest relative deviation from their
    median among the earlier runs of the same resolved config (the original and any
    earlier reproductions), and the verdict on the new run's difference. With fewer than
    ``NOISE_MIN_RUNS`` such runs the band is unknown (``band`` None)."""

    runs: int
    band: float | None
    difference: float | None

    @property
    def verdict(self) -> str:
        if self.difference is None:
            return "no metric to compare"
        if self.band is None:
            return (
                f"run-to-run noise unknown: {self.runs} earlier run of this config; "
                "reproduce it again to measure the spread"
            )
        where = "beyond" if abs(self.difference) > self.band else "within"
        return (
            f"{self.difference:+.1%} is {where} run-to-run noise "
            f"(+-{self.band:.1%}: the spread of {self.runs} earlier runs of this config)"
        )


def noise(earlier: Sequence[RunRecord], old: RunRecord, new: RunRecord) -> Noise:
    """The noise band of ``old``'s metric from ``earlier`` runs of the same config
    hash (``old`` among them), and ``new``'s difference from ``old``."""
    import statistics

    def metric(r: RunRecord) -> float | None:
        return r.result.metric if r.result and r.status == "ok" else None

    values = [v for r in earlier if (v := metric(r))]
    base, now = metric(old), metric(new)
    difference = (now - base) / base if base and now is not None else None
    if len(values) < NOISE_MIN_RUNS:
        return Noise(len(values), None, difference)
    median = statistics.median(values)
    band = max(abs(v - median) / median for v in values)
    return Noise(len(values), band, difference)


@dataclass(frozen=True)
class Reproduction:
    original: RunRecord
    new: RunRecord
    figures: list[Figure]
    differences: list[Difference]
    noise: Noise

    def as_dict(self) -> dict[str, Any]:
        return {
            "original": self.original.run_id,
            "new": self.new.run_id,
            "noise": {
                "earlier_runs": self.noise.runs,
                "band": self.noise.band,
                "difference": self.noise.difference,
                "verdict": self.noise.verdict,
            },
            "figures": [
                {"name": f.name, "old": f.old, "new": f.new, "relative": f.relative}
                for f in self.figures
            ],
            "differences": [{"what": d.what, "old": d.old, "new": d.new} for d in self.differences],
        }


def validity(record: RunRecord) -> str:
    """VALID / INVALID / PASS / BELOW TARGET / FAILED ... in words."""
    if record.status != "ok":
        return record.status.upper()
    if record.mode == "accuracy":
        if record.accuracy is None:
            return "-"
        return "PASS" if record.accuracy.passed else "BELOW TARGET"
    if record.result is None or record.result.valid is None:
        return "-"
    return "VALID" if record.result.valid else "INVALID"


def figures(old: RunRecord, new: RunRecord) -> list[Figure]:
    """The figures of both runs that either has: result, metric, accuracy, percentiles."""

    def metric(r: RunRecord) -> float | None:
        return r.result.metric if r.result else None

    def pct(r: RunRecord, key: str) -> float | None:
        value = r.result.latency_ns.get(key) if r.result else None
        return None if value is None else value / 1e6

    either = old.result or new.result
    unit = either.metric_unit if either is not None else None
    out = [Figure("result", validity(old), validity(new))]
    if metric(old) is not None or metric(new) is not None:
        out.append(Figure(f"metric ({unit})", metric(old), metric(new)))
    if old.accuracy or new.accuracy:
        out.append(
            Figure(
                "accuracy (%)",
                old.accuracy.value if old.accuracy else None,
                new.accuracy.value if new.accuracy else None,
            )
        )
    for key in ("p50", "p90", "p99"):
        if pct(old, key) is not None or pct(new, key) is not None:
            out.append(Figure(f"{key} latency (ms)", pct(old, key), pct(new, key)))
    return out


def environment(record: RunRecord) -> dict[str, Any]:
    """What a run ran with: package versions, model and dataset hashes, machine, LoadGen."""
    env: dict[str, Any] = {}
    for key, value in sorted((record.provenance.get("software") or {}).items()):
        env[f"package {key}"] = value
    system = record.provenance.get("system") or {}
    for key in ("hostname", "cpu_model", "cpu_count", "cpu_affinity", "memory_bytes", "os"):
        env[f"system {key}"] = system.get(key)
    env["python"] = system.get("python")
    env["model sha256"] = record.model.sha256
    env["dataset sha256"] = record.dataset.sha256
    env["LoadGen version (log)"] = record.result.loadgen_version if record.result else None
    return env


def environment_diff(old: RunRecord, new: RunRecord) -> list[Difference]:
    """What differs between the environments of two runs (keys only one of them has, too);
    a value missing from the new run because it failed early is not a difference."""
    a, b = environment(old), environment(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key) and not (b.get(key) is None and new.status != "ok"):
            out.append(Difference(key, a.get(key), b.get(key)))
    return out


def reproduce(
    workspace: Workspace,
    run_id: str,
    command: Sequence[str] = (),
    progress: ProgressFn | None = None,
) -> Reproduction:
    """Run ``run_id`` again from its resolved config (a new run, tagged
    ``reproduces=<run_id>``) and compare figures and environments."""
    from perfpilot.config.run import RunConfig
    from perfpilot.engine.runner import run_benchmark

    old = workspace.load(run_id)
    try:
        cfg = RunConfig.model_validate(old.config)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise UsageError(
            f"run {old.run_id}: its recorded config cannot be run by this perfpilot "
            f"({where}: {first['msg']})",
            "Start a new run with 'perfpilot run' and the options you need.",
        ) from err
    earlier = [r for r in workspace.records() if r.config_hash == old.config_hash]
    new = run_benchmark([cfg], workspace, command, progress, tags={"reproduces": old.run_id})[0]
    spread = noise(earlier, old, new)
    return Reproduction(old, new, figures(old, new), environment_diff(old, new), spread)
