"""Design-space sweeps: a YAML file names run options to vary (a grid, or N random points
of it); every point is a real run recorded with the tags ``{"sweep": NAME, "point": ID}``.
A rerun skips points that already finished, so a killed sweep resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfpilot.config.run import RunConfig, build_run_configs, duration_ms
from perfpilot.errors import PerfpilotError, UsageError
from perfpilot.records import LoadgenResult, RunRecord, config_hash
from perfpilot.userfiles import load_yaml
from perfpilot.workspace import Workspace

#: Keys of a sweep file.
FILE_KEYS = ("name", "description", "base", "grid", "random", "seed")
#: Option names as on the command line -> RunConfig fields ("min_duration" is in seconds,
#: like --min-duration, and becomes min_duration_ms when a point runs).
ALIASES = {"count": "min_query_count"}
#: Options that are not RunConfig fields but choose which tests a point runs.
EXPANDED = ("scenario", "mode")
#: ``backend_option.NAME`` sets one backend option (``--backend-option NAME=VALUE``), so a
#: grid can vary e.g. the openai backend's concurrency: ``backend_option.concurrency: [1, 8]``.
BACKEND_OPTION = "backend_option."


def _backend_option(key: str) -> str | None:
    """The backend option a sweep key names (``backend-option.concurrency``), else None."""
    name = str(key).replace("-", "_")
    if not name.startswith(BACKEND_OPTION):
        return None
    return name[len(BACKEND_OPTION) :] or None


def _field(key: str) -> str:
    name = str(key).replace("-", "_")
    return ALIASES.get(name, name)


def _known_options() -> list[str]:
    return sorted({*RunConfig.model_fields, *ALIASES, "min_duration"})


@dataclass(frozen=True)
class Point:
    """One design point: its id, the options that vary, and all options it runs with."""

    point_id: str
    varied: dict[str, Any]
    options: dict[str, Any]

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.varied.items()) or "(base)"

    def configs(self) -> list[RunConfig]:
        opts = dict(self.options)
        singles = {k: opts.pop(k) for k in list(opts) if _backend_option(k)}
        if singles:
            merged = dict(opts.get("backend_options") or {})
            merged.update({str(_backend_option(k)): v for k, v in singles.items()})
            opts["backend_options"] = merged
        scenario = str(opts.pop("scenario", "Offline"))
        mode = str(opts.pop("mode", "performance"))
        seconds = opts.pop("min_duration", None)
        if seconds is not None:
            opts["min_duration_ms"] = duration_ms(seconds, "min_duration")
        return build_run_configs(scenario, mode, **opts)


@dataclass(frozen=True)
class SweepSpec:
    name: str
    path: Path
    points: list[Point]
    description: str = ""


def _point_id(options: dict[str, Any]) -> str:
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


#: The most points a sweep runs unless told otherwise (``--max-points``).
MAX_POINTS = 10_000


def load_sweep(path: Path, max_points: int = MAX_POINTS) -> SweepSpec:
    """Read and check a sweep file: every option and every point is validated before any
    run starts, and each problem is one line naming the file. A sweep of more than
    ``max_points`` points (0: no limit) is refused before any point is built."""
    data = load_yaml(path, "sweep file", hint="A sweep file is a YAML mapping: name, base, grid.")
    for key in data:
        if key not in FILE_KEYS:
            raise UsageError(
                f"{path}: unknown key {key!r} in the sweep file", f"Use: {', '.join(FILE_KEYS)}."
            )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{path}: the sweep needs a 'name'", "Add e.g. 'name: my-sweep'.")
    from perfpilot.tune.profiles import check_name

    check_name(name, "sweep")
    base = data.get("base") or {}
    grid = data.get("grid") or {}
    for what, value in (("base", base), ("grid", grid)):
        if not isinstance(value, dict):
            raise UsageError(f"{path}: {what!r} must be a mapping of run options")
    known = set(_known_options())
    for key in [*base, *grid]:
        if str(key).replace("-", "_") not in known and not _backend_option(key):
            raise UsageError(
                f"unknown option {key!r} in sweep file {path}",
                f"Known options: {', '.join(_known_options())}, {BACKEND_OPTION}NAME.",
            )
    axes: dict[str, list[Any]] = {}
    for key, values in grid.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise UsageError(f"{path}: grid option {key!r} has no values")
        axes[_field(key)] = values
    fixed = {_field(k): v for k, v in base.items()}
    overlap = set(fixed) & set(axes)
    if overlap:
        raise UsageError(f"{path}: {', '.join(sorted(overlap))} is in both 'base' and 'grid'")
    total = math.prod(len(values) for values in axes.values())  # counted, never built
    indices: Sequence[int] = range(total)
    sample = data.get("random")
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise UsageError(f"{path}: 'random' must be a number of points (1 or more)")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UsageError(f"{path}: 'seed' must be a whole number, not {seed!r}")
        rng = random.Random(seed)
        # sample() of a range draws indices without building it (the points it picks are
        # the ones sample() of the whole grid as a list would pick).
        indices = indices if sample >= total else rng.sample(indices, sample)
    if max_points and len(indices) > max_points:
        what = f"{len(indices):,} points" + (f" (a grid of {total:,})" if sample else "")
        raise UsageError(
            f"{path}: the sweep has {what}, more than the limit of {max_points:,}",
            "Draw fewer with 'random: N', shrink the grid, or raise the limit with --max-points.",
        )
    combos = (dict(zip(axes, _grid_point(axes, i), strict=True)) for i in indices)
    points = []
    seen: set[str] = set()
    for varied in combos:
        options = {"mode": "performance", **fixed, **varied}
        point = Point(_point_id(options), varied, options)
        try:
            _check_names(point.configs())  # every value checked now: nothing runs if one is bad
        except UsageError as err:
            raise UsageError(f"{path}: point {point.label()}: {err.message}", err.hint) from err
        except (TypeError, ValueError) as err:
            raise UsageError(f"{path}: point {point.label()}: {err}") from err
        if point.point_id not in seen:
            seen.add(point.point_id)
            points.append(point)
    return SweepSpec(name=name, path=path, points=points, description=data.get("description", ""))


def _grid_point(axes: dict[str, list[Any]], index: int) -> list[Any]:
    """The values of grid point ``index`` in itertools.product order (last axis fastest)."""
    values = []
    for options in reversed(list(axes.values())):
        index, at = divmod(index, len(options))
        values.append(options[at])
    return values[::-1]


def _check_names(configs: Sequence[RunConfig]) -> None:
    """Unknown models and backends (or a backend whose extra is missing), and precisions
    or backend options a backend cannot take, fail here."""
    from perfpilot.backends.base import BackendConfig
    from perfpilot.backends.registry import backend_class, get_backend_entry
    from perfpilot.tasks import get_model

    for cfg in configs:
        get_model(cfg.model)
        get_backend_entry(cfg.backend, cfg.device)
        if cfg.precision != "fp32" or cfg.backend_options:  # importing the module costs little
            backend = backend_class(cfg.backend, cfg.device)
            backend.check_precision(cfg.precision)
            backend.make_config(BackendConfig(device=cfg.device), cfg.backend_options)


def _resolved_hash(cfg: RunConfig) -> str:
    from perfpilot.engine.prepare import resolve_config

    return config_hash(json.loads(resolve_config(cfg).model_dump_json()))


def sweep_records(workspace: Workspace, name: str) -> list[RunRecord]:
    """Every run recorded for sweep ``name``, oldest first."""
    return [r for r in workspace.records() if r.tags.get("sweep") == name]


@dataclass
class PointOutcome:
    point: Point
    records: list[RunRecord]
    skipped: bool


@dataclass
class SweepRun:
    name: str
    outcomes: list[PointOutcome] = field(default_factory=list)
    #: point id -> why it brought no result (a cluster trial whose nodes all died)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ran(self) -> int:
        return sum(not o.skipped for o in self.outcomes)

    @property
    def skipped(self) -> int:
        return sum(o.skipped for o in self.outcomes)


def run_sweep(
    spec: SweepSpec,
    workspace: Workspace,
    command: Sequence[str] = (),
    on_point: Callable[[int, int, PointOutcome], None] | None = None,
    before_point: Callable[[int, Point], None] | None = None,
) -> SweepRun:
    """Run every point not already finished (same resolved config, status ok, same sweep).
    ``before_point(index, point)`` may raise KeyboardInterrupt to stop between points."""
    from perfpilot.engine.runner import run_benchmark

    done: dict[str, RunRecord] = {}
    for rec in sweep_records(workspace, spec.name):
        if rec.status == "ok":
            done[rec.config_hash] = rec
    out = SweepRun(spec.name)
    total = len(spec.points)
    for index, point in enumerate(spec.points, 1):
        configs = point.configs()
        hashes = [_resolved_hash(c) for c in configs]
        if all(h in done for h in hashes):
            outcome = PointOutcome(point, [done[h] for h in hashes], skipped=True)
        else:
            if before_point is not None:
                before_point(index, point)
            todo = [c for c, h in zip(configs, hashes, strict=True) if h not in done]
            tags = {"sweep": spec.name, "point": point.point_id}
            records = run_benchmark(todo, workspace, command, tags=tags)
            kept = [done[h] for h in hashes if h in done]
            outcome = PointOutcome(point, kept + records, skipped=False)
        out.outcomes.append(outcome)
        if on_point is not None:
            on_point(index, total, outcome)
    return out


# -- report ------------------------------------------------------------------------------

#: Objective name -> natural direction.
OBJECTIVES: dict[str, str] = {
    "throughput": "max",
    "p50": "min",
    "p90": "min",
    "p99": "min",
    "accuracy": "max",
    "memory": "min",
    # token benchmarks (LLMs): system tokens/s, tokens/s per user (1 / TPOT p50), TTFT, TPOT
    "tokens": "max",
    "tokens_per_user": "max",
    "ttft_p99": "min",
    "tpot_p99": "min",
}
DEFAULT_OBJECTIVES = "throughput:max,p99:min"
#: The serving curve: system throughput against each user's generation speed.
TOKEN_OBJECTIVES = "tokens_per_user:max,tokens:max"  # x, y of the plot
#: Token columns shown in the table even when they are not objectives.
TOKEN_COLUMNS = ("tokens", "tokens_per_user", "ttft_p99", "tpot_p99")


def default_objectives(rows: Sequence[dict[str, Any]]) -> str:
    """Token sweeps that measured TPOT (Server, Interactive) get the serving curve."""
    return TOKEN_OBJECTIVES if any(r.get("tokens_per_user") for r in rows) else DEFAULT_OBJECTIVES


#: Config fields that never vary meaningfully between points (left out of the table).
_NOT_SHOWN = {"mode", "trace", "model_path", "dataset_path"}


def point_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per point (its latest ok runs): varied options, objectives, run ids."""
    by_point: dict[str, dict[str, RunRecord]] = {}
    for rec in records:
        if rec.status != "ok" or "point" not in rec.tags:
            continue
        key = f"{rec.scenario}/{rec.mode}"
        by_point.setdefault(rec.tags["point"], {})[key] = rec  # oldest first: latest wins
    rows = []
    for point_id, recs in by_point.items():
        perf = next((r for k, r in recs.items() if k.endswith("/performance")), None)
        acc = next((r for k, r in recs.items() if k.endswith("/accuracy")), None)
        first = perf or acc
        assert first is not None
        row: dict[str, Any] = {
            "point": point_id,
            "config": {k: v for k, v in first.config.items() if k not in _NOT_SHOWN},
            "throughput": None,
            "p50": None,
            "p90": None,
            "p99": None,
            "accuracy": None if acc is None or acc.accuracy is None else acc.accuracy.value,
            "memory": None,
            "tokens": None,
            "tokens_per_user": None,
            "ttft_p99": None,
            "tpot_p99": None,
            "valid": None,
            "runs": [r.run_id for r in recs.values()],
        }
        rss = [r.peak_rss_bytes for r in recs.values() if r.peak_rss_bytes]
        if rss:
            row["memory"] = round(max(rss) / 2**20, 1)  # MiB
        if perf is not None and perf.result is not None:
            res = perf.result
            lat = res.latency_ns
            for p in ("p50", "p90", "p99"):
                row[p] = None if p not in lat else round(lat[p] / 1e6, 4)
            if res.metric_unit == "samples/s":
                row["throughput"] = res.metric
            elif res.metric_unit == "tokens/s":
                row.update(token_figures(res))
            elif lat.get("mean"):  # streams: queries one at a time
                spq = int(res.effective.get("samples_per_query") or 1)
                row["throughput"] = spq * 1e9 / lat["mean"]
            row["valid"] = res.valid
        rows.append(row)
    varied = _varied_keys(rows)
    for row in rows:
        row["options"] = {k: row["config"].get(k) for k in varied}
    return rows


def token_figures(res: LoadgenResult) -> dict[str, float | None]:
    """A token run's serving figures: samples/s, system tokens/s, tokens/s per user (the
    speed one stream sees: 1 / median TPOT) and p99 TTFT and TPOT in ms."""
    tpot50 = res.tpot_ns.get("p50")
    ttft99, tpot99 = res.ttft_ns.get("p99"), res.tpot_ns.get("p99")
    return {
        "throughput": res.samples_per_second,
        "tokens": res.metric,
        "tokens_per_user": round(1e9 / tpot50, 3) if tpot50 else None,
        "ttft_p99": None if ttft99 is None else round(ttft99 / 1e6, 4),
        "tpot_p99": None if tpot99 is None else round(tpot99 / 1e6, 4),
    }


def _varied_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for k in row["config"]:
            if k not in keys:
                keys.append(k)
    return [k for k in keys if len({json.dumps(r["config"].get(k)) for r in rows}) > 1]


def report(
    workspace: Workspace, name: str, objectives: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The sweep's rows (``pareto`` marks the front) and the varied option names.
    Without ``objectives``: :func:`default_objectives` of the rows."""
    from perfpilot.tune.pareto import pareto_front, parse_objectives

    records = sweep_records(workspace, name)
    if not records:
        known = sorted({r.tags["sweep"] for r in workspace.records() if "sweep" in r.tags})
        raise UsageError(
            f"no runs recorded for sweep {name!r} in {workspace.root}",
            f"Sweeps here: {', '.join(known)}." if known else "Run 'perfpilot sweep run FILE'.",
        )
    rows = point_rows(records)
    if not rows:
        raise PerfpilotError(f"sweep {name!r} has no finished point yet", "Run it again.")
    if objectives is None:
        objectives = dict(parse_objectives(default_objectives(rows), OBJECTIVES))  # type: ignore[arg-type]
    for key in objectives:
        if all(r.get(key) is None for r in rows):
            hint = (
                "Accuracy needs 'mode: both' (or accuracy) in the sweep file."
                if key == "accuracy"
                else f"Choose other --objectives ({', '.join(OBJECTIVES)})."
            )
            raise UsageError(f"no point of sweep {name!r} has a value for {key!r}", hint)
    front = {id(r) for r in pareto_front(rows, objectives)}  # type: ignore[arg-type]
    for row in rows:
        row["pareto"] = id(row) in front
    varied = list(rows[0]["options"])
    return rows, varied


def write_plot(
    rows: Sequence[dict[str, Any]], objectives: dict[str, str], path: Path, title: str
) -> Path:
    """Scatter of the first two objectives (Pareto points highlighted): .html with plotly
    (self-contained, works offline) or .png with matplotlib."""
    from perfpilot.artifacts import atomic_write_bytes, atomic_write_text

    names = list(objectives)
    x_key, y_key = (names[0], names[1]) if len(names) > 1 else ("point", names[0])
    usable = [r for r in rows if r.get(y_key) is not None and r.get(x_key) is not None]
    labels = [" ".join(f"{k}={v}" for k, v in r["options"].items()) for r in usable]
    suffix = path.suffix.lower()
    if suffix == ".html":
        try:
            import plotly.graph_objects as go
        except ImportError as err:
            raise UsageError(
                "an HTML plot needs plotly, which is not installed",
                "pip install 'perfpilot[dashboard]'.",
            ) from err
        fig = go.Figure()
        for on_front, colour in ((False, "#9aa5b1"), (True, "#d9480f")):
            sel = [i for i, r in enumerate(usable) if bool(r["pareto"]) == on_front]
            fig.add_trace(
                go.Scatter(
                    x=[usable[i][x_key] for i in sel],
                    y=[usable[i][y_key] for i in sel],
                    text=[labels[i] for i in sel],
                    mode="markers",
                    marker={"size": 11, "color": colour},
                    name="Pareto-optimal" if on_front else "dominated",
                    hovertemplate="%{text}<br>%{x}, %{y}<extra></extra>",
                )
            )
        fig.update_layout(
            title=title,
            xaxis_title=_axis(x_key, objectives),
            yaxis_title=_axis(y_key, objectives),
            template="plotly_white",
        )
        atomic_write_text(path, fig.to_html(include_plotlyjs=True, full_html=True))
        return path
    if suffix == ".png":
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as err:
            raise UsageError(
                "a PNG plot needs matplotlib, which is not installed",
                "pip install matplotlib, or give --plot FILE.html.",
            ) from err
        import io

        fig_m, ax = plt.subplots(figsize=(7, 5))
        for on_front, colour in ((False, "#9aa5b1"), (True, "#d9480f")):
            chosen = [r for r in usable if bool(r["pareto"]) == on_front]
            ax.scatter(
                [r[x_key] for r in chosen],
                [r[y_key] for r in chosen],
                c=colour,
                label="Pareto-optimal" if on_front else "dominated",
            )
        ax.set_xlabel(_axis(x_key, objectives))
        ax.set_ylabel(_axis(y_key, objectives))
        ax.set_title(title)
        ax.legend()
        buf = io.BytesIO()
        fig_m.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig_m)
        atomic_write_bytes(path, buf.getvalue())
        return path
    raise UsageError(f"cannot write a plot to {path}", "Give --plot FILE.html or FILE.png.")


def _axis(key: str, objectives: dict[str, str]) -> str:
    from perfpilot.tasks.labels import SWEEP_UNITS

    unit = SWEEP_UNITS.get(key)
    direction = objectives.get(key)
    return f"{key}" + (f" ({unit})" if unit else "") + (f", {direction}" if direction else "")
