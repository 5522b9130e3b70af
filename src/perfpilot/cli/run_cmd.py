"""``perfpilot run``."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.options import run_option, run_options
from perfpilot.cli.render import (
    accuracy_text,
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

#: Off a terminal (logs, CI), a phase gets a line once it has lasted this long (quick ones
#: none), and a line says where a run stands every LOG_EVERY_S seconds: a 16-minute run
#: logs about 40 lines, not a flood.
PHASE_SHOWN_AFTER_S = 2.0
LOG_EVERY_S = 30.0
#: The parent's preparing step (model checks, a build, a first-use training) gets its line
#: later: bad input found there (a wrong model file) stays one line, a long build is shown.
PREPARE_SHOWN_AFTER_S = 30.0


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
    from perfpilot.config.run import duration_ms, parse_backend_options, with_backend_options
    from perfpilot.engine.runner import run_benchmark
    from perfpilot.results.db import indexer
    from perfpilot.workspace import Workspace

    scenario, mode = str(options.pop("scenario")), str(options.pop("mode"))
    options["min_duration_ms"] = None if min_duration is None else duration_ms(min_duration)
    options["min_query_count"] = options.pop("count")
    options["backend_options"] = with_backend_options(
        parse_backend_options(backend_options), endpoint=endpoint, api_key_env=api_key_env
    )
    workspace = Workspace.resolve(ctx.workspace, on_record=indexer(ctx.db))
    tags: dict[str, str] = {}
    profile, explicit = None, set[str]()
    if settings:  # the profile's options, except where given on the command line
        from perfpilot.tune.profiles import profile_for_run

        explicit = _explicit_options()
        profile, options = profile_for_run(workspace, settings, options, explicit)
        tags["settings"] = profile.name
        if "scenario" not in explicit and profile.scenarios:  # the scenarios it was tuned for
            scenario = ",".join(profile.scenarios)
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


def clear_live_line(console: Console) -> None:
    """Blank the live progress line (a terminal's whole row) before a line that stays."""
    if console.is_terminal:
        console.print(" " * max(console.width - 1, 20), end="\r", highlight=False, crop=True)


def _done_printer(console: Console):  # type: ignore[no-untyped-def]
    def done(record: RunRecord) -> None:
        detail = accuracy_text(record.accuracy) if record.accuracy else metric_text(record)
        clear_live_line(console)
        console.print(
            f"  {record.scenario} {record.mode}: {validity_text(record)} {detail}",
            highlight=False,
        )

    return done


def _progress_printer(console: Console):  # type: ignore[no-untyped-def]
    """A live line on a terminal; elsewhere (logs, CI) a line for each phase that lasts
    (building the model, loading, warm-up, calibration, the test: the test's with the
    expected duration, start-up included), and one every LOG_EVERY_S seconds on the way."""
    from perfpilot.submission.plan import format_duration

    state: dict[str, Any] = {"label": None, "test": None, "told": False, "elapsed": 0.0}
    state.update(since=0.0, shown=False, logged=0.0)

    def show(label: str, elapsed: float, expected: float | None, live: LiveStats | None) -> None:
        # the clock and time left first: a narrow terminal loses figures, not the ETA
        figures = f", {live_text(live)}" if live is not None else ""
        clock = _clock(elapsed).strip()
        total = f" / ~{_clock(expected).strip()}" if expected else ""
        left = f", ~{_clock(max(expected - elapsed, 0.0)).strip()} left" if expected else ""
        line = f"  {label}: {clock}{total}{left}{figures}"
        if console.is_terminal:
            # one row exactly (a wrapped line would leave its first row behind at each
            # redraw), padded to wipe a longer previous line
            width = max(console.width - 1, 20)
            if len(line) > width and live is not None:  # samples done alone, label shorter
                done = live_text(replace(live, samples_per_s=None, tokens_per_s=None,
                                         ttft_p99_ms=None, tpot_p99_ms=None))  # fmt: skip
                short = re.sub(r" (\w+): \1 test$", r" \1 test", label)
                line = f"  {short}: {clock}{total}{left}, {done}"
            line = line if len(line) <= width else line[: width - 1] + "…"
            console.print(line.ljust(width), end="\r", highlight=False, no_wrap=True, crop=True)
            return
        test = label.split(":")[0]
        if state["test"] != test or elapsed < state["elapsed"]:  # the next test (a
            state.update(test=test, told=False, label=None)  # compliance test may have its
            # run's label)
        state["elapsed"] = elapsed
        if state["label"] != label:
            state.update(label=label, since=elapsed, shown=False)
        if expected and not state["told"]:  # the test's own line, with its estimate
            state.update(told=True, shown=True, logged=elapsed)
            console.print(
                f"{label}: expected to take about {format_duration(expected)} in all, "
                f"including {format_duration(elapsed)} so far for start-up, loading, "
                "warm-up and calibration",
                highlight=False,
            )
        elif not state["shown"] and (
            elapsed - state["since"]
            >= (PREPARE_SHOWN_AFTER_S if label.startswith("preparing ") else PHASE_SHOWN_AFTER_S)
            or _says_long(label)
        ):
            state.update(shown=True, logged=elapsed)
            console.print(f"{label} ... ({clock})", highlight=False)
        elif state["shown"] and elapsed - state["logged"] >= LOG_EVERY_S:
            state["logged"] = elapsed
            console.print(line, highlight=False)

    return show


def _says_long(label: str) -> bool:
    """Whether the phase says it will take at least PHASE_SHOWN_AFTER_S: "(about 25s)"."""
    said = re.search(r"\(about (\d+)s\)$", label)
    return said is not None and int(said.group(1)) >= PHASE_SHOWN_AFTER_S


def _clock(seconds: float) -> str:
    """``42.3s`` under a minute, else ``12:05`` or ``1:02:05``."""
    if seconds < 60:
        return f"{seconds:5.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
