"""``perfpilot run``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.options import run_option, run_options
from perfpilot.cli.render import (
    console,
    live_text,
    metric_text,
    print_table,
    records_json,
    validity_text,
)
from perfpilot.records import RunRecord

if TYPE_CHECKING:
    from perfpilot.engine.live import LiveStats

#: Off a terminal (logs, CI), a token run's figures so far are printed this often.
LOG_EVERY_S = 60.0


@click.command()
@run_options(
    "model",
    "model_path",
    "dataset_path",
    "dataset_size",
    "backend",
    "device",
    "precision",
    "scenario",
)
@run_option("mode", default="both")  # both: accuracy then performance (a RunConfig is one)
@run_options(
    "execution",
    "batch_size",
    "threads",
    "backend_threads",
    "backend_options",
    "max_wait_ms",
    "target_qps",
    "target_latency_ms",
    "min_duration_ms",
    "min_query_count",
    "samples_per_query",
    "trace",
)
@click.option(
    "--settings",
    metavar="NAME",
    help="Apply a settings profile (perfpilot tune --save NAME); options given here win.",
)
@click.option(
    "--endpoint",
    metavar="URL",
    help="--backend openai: the server's API base URL (default http://127.0.0.1:8000/v1).",
)
@click.option(
    "--api-key-env",
    metavar="NAME",
    help="--backend openai: the environment variable holding the server's API key.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run records as JSON.")
@click.pass_obj
def run(
    ctx: Context,
    /,
    as_json: bool,
    min_duration: float | None,
    settings: str | None,
    backend_options: tuple[str, ...],
    endpoint: str | None,
    api_key_env: str | None,
    **options: object,
) -> int:
    """Run LoadGen tests: every scenario x mode asked for, each in its own process."""
    from perfpilot.config import build_run_configs
    from perfpilot.config.run import parse_backend_options, with_backend_options
    from perfpilot.engine.runner import run_benchmark
    from perfpilot.results.db import index_record
    from perfpilot.workspace import Workspace

    scenario, mode = str(options.pop("scenario")), str(options.pop("mode"))
    options["min_duration_ms"] = (
        None if min_duration is None else max(1, round(min_duration * 1000))
    )
    options["min_query_count"] = options.pop("count")
    options["backend_options"] = with_backend_options(
        parse_backend_options(backend_options), endpoint=endpoint, api_key_env=api_key_env
    )
    workspace = Workspace.resolve(ctx.workspace, on_record=index_record)
    tags: dict[str, str] = {}
    profile, explicit = None, set[str]()
    if settings:  # the profile's options, except where given on the command line
        from perfpilot.tune.profiles import profile_for_run

        explicit = _explicit_options()
        profile, options = profile_for_run(workspace, settings, options, explicit)
        tags["settings"] = profile.name
    configs = build_run_configs(scenario, mode, **options)
    if profile is not None:
        configs = profile.apply(configs, explicit)
    err = console(stderr=True)
    records = run_benchmark(
        configs,
        workspace,
        ["perfpilot", *sys.argv[1:]],
        progress=_progress_printer(err),
        on_record=_done_printer(err),
        tags=tags,
    )
    if as_json:
        click.echo(records_json(records))
    else:
        print_table(
            console(),
            records,
            title=f"perfpilot run: {records[0].model_label if records else configs[0].model} on "
            f"{configs[0].backend}",
        )
    return EXIT_OK if all(r.ok for r in records) else EXIT_FAILED


def _explicit_options() -> set[str]:
    """Parameters the user gave (command line or environment), not left at defaults."""
    ctx = click.get_current_context()
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return {
        p.name for p in ctx.command.params if p.name and ctx.get_parameter_source(p.name) in given
    }


def _done_printer(console: Console):  # type: ignore[no-untyped-def]
    def done(record: RunRecord) -> None:
        detail = f"{record.accuracy.value:.3f}%" if record.accuracy else metric_text(record)
        console.print(
            f"  {record.scenario} {record.mode}: {validity_text(record)} {detail}" + " " * 10,
            highlight=False,
        )

    return done


def _progress_printer(console: Console):  # type: ignore[no-untyped-def]
    """A live line on a terminal; elsewhere (logs, CI) a line when a test starts, one
    with its expected duration once the child knows it, and for token runs their figures
    so far every minute."""
    from perfpilot.submission.plan import format_duration

    state: dict[str, Any] = {"label": None, "told": False, "elapsed": 0.0, "logged": 0.0}

    def show(label: str, elapsed: float, expected: float | None, live: LiveStats | None) -> None:
        figures = f"{live_text(live)}, " if live is not None else ""
        clock = _clock(elapsed).strip() if figures else _clock(elapsed)
        total = f" / ~{_clock(expected)}" if expected else ""
        if console.is_terminal:
            console.print(
                f"  running {label}: {figures}{clock}{total}   ",
                end="\r",
                highlight=False,
            )
            return
        if state["label"] != label or elapsed <= state["elapsed"]:  # the next test (a
            state.update(label=label, told=False, logged=0.0)  # compliance test has its
            console.print(f"running {label} ...", highlight=False)  # run's label)
        state["elapsed"] = elapsed
        if expected and not state["told"]:
            state["told"] = True
            console.print(
                f"  {label}: expected to take about {format_duration(expected)}",
                highlight=False,
            )
        if live is not None and live.elapsed_s - state["logged"] >= LOG_EVERY_S:
            state["logged"] = live.elapsed_s
            console.print(f"  {label}: {figures}{clock}{total}", highlight=False)

    return show


def _clock(seconds: float) -> str:
    """``42.3s`` under a minute, else ``12:05`` or ``1:02:05``."""
    if seconds < 60:
        return f"{seconds:5.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
