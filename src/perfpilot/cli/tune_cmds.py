"""``perfpilot tune``: find the best settings for a model x backend and save a profile."""

from __future__ import annotations

import json
import sys

import click

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.options import run_option, run_options
from perfpilot.cli.render import console
from perfpilot.cli.run_cmd import _progress_printer


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
    from perfpilot.results.db import index_record
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
    workspace = Workspace.resolve(ctx.workspace, on_record=index_record)
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
        err.print(
            f"  #{trial.number:<2} {trial.scenario:<12} {trial.stage:<8}{qps}  {trial.note}  "
            f"[{trial.run_id}, {trial.wall_s:.1f}s]" + " " * 10,  # over the live line
            highlight=False,
        )

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


def _sizes(text: str | None) -> list[int]:
    from perfpilot.errors import UsageError

    if not text:
        return []
    try:
        sizes = [int(p) for p in text.split(",") if p.strip()]
    except ValueError as err:
        raise UsageError(
            f"invalid --batch-sizes {text!r}", "Give comma-separated integers, e.g. 8,32,128."
        ) from err
    if not sizes or min(sizes) < 1:
        raise UsageError(f"invalid --batch-sizes {text!r}", "Batch sizes must be 1 or more.")
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
