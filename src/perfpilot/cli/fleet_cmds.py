"""``perfpilot fleet run`` and ``fleet report``, and what every ``--cluster`` command
shares: the option, and the live lines (one per node, and the total)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.options import run_option, run_options
from perfpilot.cli.render import console, metric_text

#: Off a terminal, a node's line is printed again at most this often (seconds).
LOG_EVERY_S = 30.0


def cluster_option(what: str) -> Callable[[Any], Any]:
    return click.option(
        "--cluster",
        metavar="ADDRESS",
        help=f"Run {what} on a Ray cluster: ray://HOST:10001, HOST:6379, auto, or local:N "
        "(a throwaway cluster of N nodes on this machine). See docs/cluster.md.",
    )


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{seconds:.1f}s" if seconds < 60 else f"{whole // 60}:{whole % 60:02d}"


def node_line(node: str, line: dict[str, Any]) -> str:
    """``host/1a2b3c4d: POINT LABEL, Offline performance 3.2s / ~10.0s (ETA 6.8s),
    41,000 samples`` (samples done once the test runs)."""
    expected = line.get("expected")
    elapsed = float(line.get("elapsed") or 0.0)
    eta = f" / ~{_clock(expected)} (ETA {_clock(max(0.0, expected - elapsed))})" if expected else ""
    samples = line.get("samples")
    done = f", {samples:,} samples" if isinstance(samples, int) else ""
    return f"  {node}: {line.get('trial')}, {line.get('test')} {_clock(elapsed)}{eta}{done}"


def progress_printer(out: Console) -> Callable[[dict[str, dict[str, Any]], int, int], None]:
    """Live lines on a terminal (one per busy node, then the total); elsewhere a node's
    line when its test changes (or every LOG_EVERY_S), and the total when it grows."""
    from rich.live import Live
    from rich.text import Text

    state: dict[str, Any] = {"live": None, "shown": {}, "done": -1}

    def show(lines: dict[str, dict[str, Any]], done: int, total: int) -> None:
        if out.is_terminal:
            text = "\n".join(
                [node_line(n, ln) for n, ln in sorted(lines.items())]
                + [f"  total: {done}/{total} trials done, {len(lines)} running"]
            )
            live = state["live"]
            if live is None:
                live = state["live"] = Live(Text(text), console=out, transient=True)
                live.start()
            live.update(Text(text))
            if done == total:
                live.stop()
            return
        now = time.monotonic()
        for node, line in sorted(lines.items()):
            key = (line.get("trial"), line.get("test"))
            seen = state["shown"].get(node)
            if seen is None or seen[0] != key or now - seen[1] >= LOG_EVERY_S:
                state["shown"][node] = (key, now)
                out.print(node_line(node, line), highlight=False)
        if done != state["done"]:
            state["done"] = done
            out.print(f"  total: {done}/{total} trials done", highlight=False)

    return show


@click.group()
def fleet() -> None:
    """The same runs on every node of a Ray cluster, and the nodes compared."""


@fleet.command("run")
@click.argument("name")
@click.option(
    "--cluster",
    "address",
    metavar="ADDRESS",
    required=True,
    help=("Ray cluster: ray://HOST:10001, HOST:6379, auto, or local:N (see docs/cluster.md)."),
)
@click.option(
    "--nodes",
    "selector",
    metavar="KEY=VALUE",
    help=("Only the nodes with these Ray labels (comma-separated pairs all match)."),
)
@run_options("model", "dataset_size", "backend", "device", "precision", "scenario")
@run_option("mode", default="performance")
@run_options(
    "execution", "batch_size", "threads", "backend_threads", "backend_options",
    "max_wait_ms", "target_qps", "target_latency_ms", "min_duration_ms", "min_query_count",
    "samples_per_query",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def fleet_run(
    ctx: Context,
    /,
    name: str,
    address: str,
    selector: str | None,
    as_json: bool,
    min_duration: float | None,
    backend_options: tuple[str, ...],
    **options: object,
) -> int:
    """Run the same tests on every node (one trial per node), tagged fleet=NAME."""
    from perfpilot.cluster.fleet import run_fleet
    from perfpilot.cluster.nodes import check_nodes, parse_selector, perfpilot_nodes
    from perfpilot.cluster.session import connect
    from perfpilot.config import build_run_configs
    from perfpilot.config.run import parse_backend_options
    from perfpilot.results.db import indexer
    from perfpilot.tune.profiles import check_name
    from perfpilot.workspace import Workspace

    check_name(name)
    wanted = parse_selector(selector)
    scenario, mode = str(options.pop("scenario")), str(options.pop("mode"))
    options["min_duration_ms"] = (
        None if min_duration is None else max(1, round(min_duration * 1000))
    )
    options["min_query_count"] = options.pop("count")
    options["backend_options"] = parse_backend_options(backend_options)
    configs = build_run_configs(scenario, mode, **options)
    workspace = Workspace.resolve(ctx.workspace, on_record=indexer(ctx.db))
    err = console(stderr=True)
    with connect(address) as session:
        nodes = perfpilot_nodes(address, wanted)
        answered = check_nodes(nodes, sorted({c.backend for c in configs}))
        nodes = [n for n in nodes if n.node_id in answered]
        err.print(f"fleet {name}: {len(configs)} test(s) on {len(nodes)} node(s)", highlight=False)

        def done(outcome: Any) -> None:
            what = outcome.error or ", ".join(
                f"{r.scenario} {r.mode} {metric_text(r)}" for r in outcome.records
            )
            err.print(f"  {outcome.trial.label}: {what}", highlight=False)

        outcomes = run_fleet(
            name, configs, nodes, workspace, session, ["perfpilot", *sys.argv[1:]],
            on_outcome=done, progress=progress_printer(err),
        )  # fmt: skip
    failed = [o for o in outcomes if o.error or any(r.status != "ok" for r in o.records)]
    if as_json:
        click.echo(json.dumps([
            {"node": o.trial.label, "error": o.error, "runs": [r.run_id for r in o.records]}
            for o in outcomes
        ], indent=2))  # fmt: skip
    err.print(
        f"fleet {name}: {len(outcomes) - len(failed)}/{len(outcomes)} nodes ok; "
        f"see 'perfpilot fleet report {name}'",
        highlight=False,
    )
    return EXIT_FAILED if failed else EXIT_OK


@fleet.command("report")
@click.argument("name")
@click.option(
    "--threshold", default=10.0, show_default=True, type=click.FloatRange(min=0.0),
    help="An outlier is a node more than this percent below the fleet's median.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def fleet_report(ctx: Context, name: str, threshold: float, as_json: bool) -> int:
    """Every node's figure side by side, the spread, outliers and environment differences."""
    from perfpilot.results.fleet import fleet_report as build
    from perfpilot.workspace import Workspace

    report = build(Workspace.resolve(ctx.workspace), name, threshold)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return EXIT_OK
    out = console()
    for test in report.tests:
        table = Table(header_style="bold", title=f"fleet {name}: {test.test}")
        for col in ("node", test.header, "vs median", "valid", "run"):
            table.add_column(col, overflow="fold")
        for f in test.nodes:
            table.add_row(
                f.node + (" OUTLIER" if f.outlier else ""),
                "-" if f.value is None else f"{f.value:,.4g}",
                f.vs_median,
                "-" if f.valid is None else ("VALID" if f.valid else "INVALID"),
                f.run_id,
            )
        out.print(table)
        median = "-" if test.median is None else f"{test.median:,.4g}"
        spread = "-" if test.spread_pct is None else f"{test.spread_pct:.1f}%"
        out.print(f"median {median}, spread {spread}", highlight=False)
    outliers = report.outliers
    out.print(
        f"outliers (> {threshold:g}% below the median): {', '.join(outliers) or 'none'}",
        highlight=False,
    )
    if report.differences:
        table = Table(header_style="bold", title="environment differences")
        nodes = sorted({n for v in report.differences.values() for n in v})
        for col in ("", *nodes):
            table.add_column(col, overflow="fold")
        for key, values in report.differences.items():
            table.add_row(key, *[str(values.get(n)) for n in nodes])
        out.print(table)
    else:
        out.print("environments: no differences between the nodes", highlight=False)
    return EXIT_OK
