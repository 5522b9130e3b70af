"""``perfpilot run``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from perfpilot.cli.main import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.render import console, metric_text, print_table, records_json, validity_text
from perfpilot.engine.record import RunRecord

POSITIVE_INT = click.IntRange(min=1)
POSITIVE_FLOAT = click.FloatRange(min=0.0, min_open=True)


@click.command()
@click.option("--model", default="digits-cnn", show_default=True, help="Catalog model.")
@click.option(
    "--model-path",
    type=click.Path(path_type=Path),
    help="Your own model file for the model's task.",
)
@click.option(
    "--dataset-path",
    type=click.Path(path_type=Path),
    help="Your dataset folder for the model's task (ImageNet: images + val_map.txt).",
)
@click.option("--dataset-size", type=POSITIVE_INT, help="Use the first N samples only.")
@click.option("--backend", default="onnxruntime", show_default=True, help="Inference backend.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option(
    "--precision",
    default="fp32",
    show_default=True,
    help="fp32, bf16, fp16 or int8, where the backend supports it (openvino: all four).",
)
@click.option(
    "--scenario",
    default="Offline",
    show_default=True,
    help="Offline, Server, SingleStream, MultiStream or all.",
)
@click.option("--mode", default="both", show_default=True, help="accuracy, performance or both.")
@click.option(
    "--execution",
    default="test",
    show_default=True,
    help="test: short runs calibrated to this machine; valid: official durations.",
)
@click.option("--batch-size", type=POSITIVE_INT, default=32, show_default=True)
@click.option(
    "--threads",
    type=POSITIVE_INT,
    help="Worker threads that run batches (Offline, Server; default: one per core).",
)
@click.option(
    "--backend-threads",
    type=POSITIVE_INT,
    help="The runtime's own threads (default: cores / threads).",
)
@click.option(
    "--backend-option",
    "backend_options",
    metavar="KEY=VALUE",
    multiple=True,
    help="An option of the backend's own (repeatable), e.g. tvm's tune_trials=64.",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Server: how long a worker waits to fill a batch.",
)
@click.option("--target-qps", type=POSITIVE_FLOAT, help="Offline expected QPS / Server target QPS.")
@click.option(
    "--target-latency-ms", type=POSITIVE_FLOAT, help="SingleStream/MultiStream expected latency."
)
@click.option("--min-duration", type=POSITIVE_FLOAT, help="Minimum test duration in seconds.")
@click.option("--count", type=POSITIVE_INT, help="Minimum query count.")
@click.option("--samples-per-query", type=POSITIVE_INT, help="MultiStream samples per query.")
@click.option("--trace", is_flag=True, help="Keep LoadGen's trace log (large).")
@click.option(
    "--settings",
    metavar="NAME",
    help="Apply a settings profile (perfpilot tune --save NAME); options given here win.",
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
    **options: object,
) -> int:
    """Run LoadGen tests: every scenario x mode asked for, each in its own process."""
    from perfpilot.config import build_run_configs
    from perfpilot.config.run import parse_backend_options
    from perfpilot.engine.runner import run_benchmark
    from perfpilot.workspace import Workspace

    scenario, mode = str(options.pop("scenario")), str(options.pop("mode"))
    options["min_duration_ms"] = (
        None if min_duration is None else max(1, round(min_duration * 1000))
    )
    options["min_query_count"] = options.pop("count")
    options["backend_options"] = parse_backend_options(backend_options)
    workspace = Workspace.resolve(ctx.workspace)
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
            console(), records, title=f"perfpilot run: {configs[0].model} on {configs[0].backend}"
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
    """A live line on a terminal; elsewhere (logs, CI) a line when a test starts and one
    with its expected duration once the child knows it."""
    from perfpilot.submission.plan import format_duration

    state: dict[str, Any] = {"label": None, "told": False, "elapsed": 0.0}

    def show(label: str, elapsed: float, expected: float | None) -> None:
        if console.is_terminal:
            total = f" / ~{_clock(expected)}" if expected else ""
            console.print(
                f"  running {label}: {_clock(elapsed)}{total}   ", end="\r", highlight=False
            )
            return
        if state["label"] != label or elapsed <= state["elapsed"]:  # the next test (a
            state.update(label=label, told=False)  # compliance test has its run's label)
            console.print(f"running {label} ...", highlight=False)
        state["elapsed"] = elapsed
        if expected and not state["told"]:
            state["told"] = True
            console.print(
                f"  {label}: expected to take about {format_duration(expected)}",
                highlight=False,
            )

    return show


def _clock(seconds: float) -> str:
    """``42.3s`` under a minute, else ``12:05`` or ``1:02:05``."""
    if seconds < 60:
        return f"{seconds:5.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
