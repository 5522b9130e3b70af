"""``perfpilot tune``: find the best settings for a model x backend and save a profile."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.fleet_cmds import cluster_option
from perfpilot.cli.options import run_option, run_options
from perfpilot.cli.render import console
from perfpilot.cli.run_cmd import _progress_printer, clear_live_line


@click.command()
@run_options("model", "backend", "device")
# tune's own default (RunConfig's is Offline): its main search is the Server QPS
@run_option("scenario", default="Server")
@click.option("--budget", default="5m", show_default=True, help="Time for the search (90s, 5m).")
@click.option(
    "--save", "save_name", metavar="NAME", help="Profile name (default MODEL-BACKEND-DEVICE)."
)
# tune's own help: the search always runs test-length; --execution sets only the final pair
@run_option(
    "execution",
    help="Mode of the final Server pair: test (short) or valid (official length, ~20 min).",
)
@run_option("batch_size")
@click.option(
    "--batch-sizes", help="Offline: try these batch sizes (e.g. 8,32,128); keep the best."
)
@run_options("threads", "backend_threads", "max_wait_ms", "dataset_size")
# token benchmarks need their data folder and the backend's generation options
@run_options("model_path", "dataset_path", "precision", "backend_options")
@cluster_option("the trials (all on one node of the cluster, the settings being that node's)")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_obj
def tune(
    ctx: Context,
    /,
    scenario: str,
    budget: str,
    save_name: str | None,
    execution: str,
    batch_sizes: str | None,
    as_json: bool,
    cluster: str | None,
    **options: object,
) -> int:
    """Tune settings: Offline peak, highest VALID Server and Interactive QPS, stream
    latencies (token benchmarks: judged by TTFT and TPOT, Offline in tokens/s too)."""
    from perfpilot.config.run import (
        EXECUTION_MODES,
        SCENARIOS,
        build_run_configs,
        parse_backend_options,
    )
    from perfpilot.results.db import indexer
    from perfpilot.tune.profiles import check_name, load_profile, profile_path, save_profile
    from perfpilot.tune.tuner import parse_budget
    from perfpilot.tune.tuner import tune as run_tune
    from perfpilot.workspace import Workspace

    budget_s = parse_budget(budget)
    options["backend_options"] = parse_backend_options(options.get("backend_options") or ())  # type: ignore[arg-type]
    base = build_run_configs("Offline", "performance", execution="test", **options)[0]
    scenarios = [c.scenario for c in build_run_configs(scenario, "performance", model=base.model)]
    execution = build_run_configs(execution=execution)[0].execution
    sizes = _sizes(batch_sizes)
    name = check_name(save_name or f"{base.model}-{base.backend}-{base.device}")
    workspace = Workspace.resolve(ctx.workspace, on_record=indexer(ctx.db))
    previous = None
    if profile_path(workspace, name).exists():  # keep its other scenarios; same target only
        previous = load_profile(workspace, name)
        previous.check_for(
            base.model, base.backend, base.device, str(profile_path(workspace, name))
        )
    err = console(stderr=True)
    err.print(
        f"tuning {base.model} on {base.backend} ({base.device}): {', '.join(scenarios)}; "
        f"budget {budget_s:g}s",
        highlight=False,
    )
    searches = [s for s in scenarios if s in ("Server", "Interactive")]
    if execution == "valid" and searches:
        err.print(
            f"the final {' and '.join(searches)} pair runs at official length: ~20 more "
            "minutes each",
            highlight=False,
        )
    assert execution in EXECUTION_MODES and set(scenarios) <= set(SCENARIOS)

    def show(trial) -> None:  # type: ignore[no-untyped-def]
        qps = f" {trial.target_qps:9.1f} QPS" if trial.target_qps else ""
        clear_live_line(err)
        err.print(
            f"  #{trial.number:<2} {trial.scenario:<12} {trial.stage:<8}{qps}  {trial.note}  "
            f"[{trial.run_id}, {trial.wall_s:.1f}s]",
            highlight=False,
        )

    with contextlib.ExitStack() as stack:
        runner = None if cluster is None else stack.enter_context(_cluster_runner(cluster, base))
        result = run_tune(
            base,
            scenarios,
            workspace,
            budget_s,
            name,
            execution=execution,
            on_trial=show,
            command=["perfpilot", *sys.argv[1:]],
            batch_sizes=sizes,
            previous=previous,
            runner=runner,
            progress=_progress_printer(err),
        )
    path = save_profile(workspace, result.profile)
    if as_json:
        click.echo(json.dumps({**result.as_dict(), "profile_path": str(path)}, indent=2))
    else:
        _summary(result, str(path))
    # every search asked for found its load, and 10% more was shown not VALID
    found = [result.servers.get(s) for s in searches]
    return EXIT_OK if all(f is not None and f.complete for f in found) else EXIT_FAILED


@contextlib.contextmanager
def _cluster_runner(address: str, base: Any) -> Iterator[Any]:
    """Each trial as a Ray task on one node of the cluster (the same node for all: the
    settings found are that node's)."""
    from perfpilot.cluster.dispatch import Dispatcher, Trial
    from perfpilot.cluster.nodes import check_nodes, perfpilot_nodes
    from perfpilot.cluster.session import connect
    from perfpilot.errors import PerfpilotError

    with connect(address) as session:
        nodes = perfpilot_nodes(address)
        answered = check_nodes(nodes, [base.backend])
        node = next(n for n in nodes if n.node_id in answered)
        console(stderr=True).print(f"  trials on node {node.short} ({node.ip})", highlight=False)

        made: dict[int, Any] = {}  # one dispatcher: the model is staged once

        def run(configs: Any, workspace: Any, command: Any = (), *, tags: Any) -> Any:
            trial = Trial(tags.get("stage", "trial"), node.short, list(configs), dict(tags), node)
            if id(workspace) not in made:
                made[id(workspace)] = Dispatcher(session, workspace, command)
            outcome = made[id(workspace)].run([trial])[0]
            if outcome.error:
                raise PerfpilotError(f"tuning trial: {outcome.error}", "Run tune again.")
            return outcome.records

        yield run


def _sizes(text: str | None) -> list[int]:
    from perfpilot.config.run import BOUNDS
    from perfpilot.errors import UsageError

    if not text:
        return []
    try:
        sizes = [int(p) for p in text.split(",") if p.strip()]
    except ValueError as err:
        raise UsageError(
            f"invalid --batch-sizes {text!r}", "Give comma-separated integers, e.g. 8,32,128."
        ) from err
    bound = BOUNDS["batch_size"]
    if not sizes or not all(bound.low <= size <= bound.high for size in sizes):
        raise UsageError(
            f"invalid --batch-sizes {text!r}",
            f"Batch sizes must be 1 or more, and at most {int(bound.high):,}.",
        )
    return sizes


def _summary(result, path: str) -> None:  # type: ignore[no-untyped-def]
    out = console()
    out.print(
        f"tune {result.tune_id}: {len(result.trials)} trials in {result.elapsed_s:.0f}s "
        f"(budget {result.budget_s:g}s)",
        highlight=False,
    )
    if result.offline:
        off = result.offline
        tokens = off.get("peak_tokens_per_s")
        out.print(
            f"Offline: peak {off['peak_samples_per_s']:.1f} samples/s"
            + ("" if tokens is None else f", {tokens:.1f} tokens/s")
            + f" (batch {off['batch_size']}, run {off['run_id']})",
            highlight=False,
        )
    for scen, stream in result.streams.items():
        out.print(
            f"{scen}: {stream['percentile']} latency {stream['latency_ms']:.3f} ms "
            f"(run {stream['run_id']})",
            highlight=False,
        )
    for scen, srv in result.servers.items():
        if srv.ttft_p99_ms is not None and srv.tpot_p99_ms is not None:
            figures = (
                f"TTFT p99 {srv.ttft_p99_ms:.1f}/{srv.ttft_bound_ms:g} ms, TPOT p99 "
                f"{srv.tpot_p99_ms:.2f}/{srv.tpot_bound_ms:g} ms, {srv.tokens_per_s:.1f} tokens/s"
            )
        else:
            figures = f"p99 {srv.p99_ms:.2f} ms, bound {srv.latency_bound_ms:g} ms"
        out.print(
            f"{scen}: {srv.valid_qps:.1f} QPS is VALID ({figures}, {srv.execution} run "
            f"{srv.valid_run})",
            highlight=False,
        )
        saved = result.profile.options(scen).get("target_qps")
        if saved is not None:
            out.print(
                f"{scen}: saving {saved:.1f} QPS (one 10% step below the VALID load, so "
                "that a re-run on this machine holds)",
                highlight=False,
            )
        verdict = "VALID too: not the limit" if srv.above_valid else "not VALID"
        out.print(
            f"{scen}: {srv.above_qps:.1f} QPS (+10%) is {verdict} ({srv.execution} run "
            f"{srv.above_run})",
            highlight=False,
        )
    for note in result.notes:
        out.print(f"note: {note}", highlight=False)
    out.print(f"saved settings profile {result.profile.name}: {path}", highlight=False)
    out.print(f"use it: perfpilot run --settings {result.profile.name}", highlight=False)
