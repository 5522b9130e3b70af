"""The run options several commands share (``--backend``, ``--batch-size``, ...): each
flag, type and help text written once here, each default read from RunConfig."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from perfpilot.config.run import BOUNDS, RunConfig
from perfpilot.userfiles import OutPath as OutPath  # the output-path type, shared

F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that refuses nan and inf (which compare as in range or beyond any)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


def number_type(field: str, scale: float = 1.0) -> click.IntRange | FiniteFloatRange:
    """The click type of RunConfig ``field``'s option: its range from ``BOUNDS`` (times
    ``scale``: --min-duration is in seconds, the field in milliseconds), finite."""
    bound = BOUNDS[field]
    if bound.whole and scale == 1.0:
        return click.IntRange(min=int(bound.low), max=int(bound.high))
    low = 0.0 if scale != 1.0 else bound.low  # a scaled whole number: any positive value
    return FiniteFloatRange(
        min=low * scale, max=bound.high * scale, min_open=bound.low_open or scale != 1.0
    )


# RunConfig field -> its flag and click settings (the default comes from RunConfig).
_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "model": ("--model", {"help": "Catalog model (perfpilot models list)."}),
    "model_path": (
        "--model-path",
        {"type": click.Path(path_type=Path), "help": "Your own model file for the model's task."},
    ),
    "dataset_path": (
        "--dataset-path",
        {
            "type": click.Path(path_type=Path),
            "help": "Your dataset folder for the model's task (ImageNet: images + val_map.txt).",
        },
    ),
    "dataset_size": ("--dataset-size", {"help": "Use the first N samples only."}),
    "backend": ("--backend", {"help": "Inference backend."}),
    "device": ("--device", {"help": "cpu or cuda."}),
    "precision": (
        "--precision",
        {"help": "fp32, bf16, fp16 or int8, where the backend supports it (openvino: all four)."},
    ),
    "scenario": (
        "--scenario",
        {"help": "Offline, Server, SingleStream, MultiStream, Interactive, a list (a,b) or all."},
    ),
    "mode": ("--mode", {"help": "accuracy, performance or both."}),
    "execution": (
        "--execution",
        {"help": "test: short runs calibrated to this machine; valid: official durations."},
    ),
    "batch_size": (
        "--batch-size",
        {"help": "Offline, Server: the most samples a worker runs as one batch."},
    ),
    "threads": (
        "--threads",
        {"help": "Worker threads that run batches (Offline, Server; default: one per core)."},
    ),
    "backend_threads": (
        "--backend-threads",
        {"help": "The runtime's own threads (default: cores / threads)."},
    ),
    # KEY=VALUE strings on the command line; the command parses them into the field's dict
    "backend_options": (
        "--backend-option",
        {
            "param": "backend_options",
            "metavar": "KEY=VALUE",
            "multiple": True,
            "help": "An option of the backend's own (repeatable), e.g. tvm's tune_trials=64.",
        },
    ),
    "max_wait_ms": ("--max-wait-ms", {"help": "Server: how long a worker waits to fill a batch."}),
    "target_qps": ("--target-qps", {"help": "Offline expected QPS / Server target QPS."}),
    "target_latency_ms": (
        "--target-latency-ms",
        {"help": "SingleStream/MultiStream expected latency."},
    ),
    # seconds on the command line; the command converts to the field's milliseconds
    "min_duration_ms": (
        "--min-duration",
        {"scale": 1 / 1000, "help": "Minimum test duration in seconds."},
    ),
    "min_query_count": ("--count", {"help": "Minimum query count."}),
    "samples_per_query": ("--samples-per-query", {"help": "MultiStream samples per query."}),
    "trace": ("--trace", {"is_flag": True, "help": "Keep LoadGen's trace log (large)."}),
}


def run_option(field: str, **overrides: Any) -> Callable[[F], F]:
    """The click option for RunConfig ``field``; ``overrides`` (a command's own default,
    ``required``, help) replace the shared settings."""
    flag, shared = _OPTIONS[field]
    settings: dict[str, Any] = {"default": RunConfig.model_fields[field].default, **shared}
    settings.update(overrides)
    scale = settings.pop("scale", 1.0)
    if field in BOUNDS:  # numbers: the model's range, finite
        settings.setdefault("type", number_type(field, scale))
    if settings["default"] is None or settings.get("is_flag") or settings.get("multiple"):
        del settings["default"]  # click's own "not given" (a flag: off; repeatable: none)
    else:
        settings.setdefault("show_default", True)
    param = settings.pop("param", None)  # where the flag's own name is not the parameter's
    return click.option(flag, *([param] if param else []), **settings)


def run_options(*fields: str) -> Callable[[F], F]:
    """The click options for several RunConfig fields, on ``--help`` in the order given."""

    def apply(fn: F) -> F:
        for field in reversed(fields):
            fn = run_option(field)(fn)
        return fn

    return apply


# --- output options: the one grammar of every command that prints results -------------
#
# ``--json``: every such command; prints one JSON document on stdout (progress and notes
# go to stderr). ``--format table|csv|json``: only where rows make a CSV (results list,
# compare, import, export; sweep report); there ``--json`` is ``--format json``.

TABLE_FORMATS = ("table", "csv", "json")


_OLD_JSON = "perfpilot.old_json"  # ctx.meta: an old spelling asked for JSON


def _json_value(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
    # click handles the options given first, so a deprecated spelling is seen by now
    return bool(value or ctx.meta.get(_OLD_JSON))


def json_option(
    help: str = "Print the result as JSON (one document on stdout).",
) -> Callable[[F], F]:
    """``--json``, given to the command as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, callback=_json_value, help=help)


def format_options(
    formats: tuple[str, ...] = TABLE_FORMATS, default: str = "table"
) -> Callable[[F], F]:
    """``--format`` (one of ``formats``) and ``--json`` (its shorthand for ``--format
    json``), given to the command as one ``fmt``."""

    def apply(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs.pop("as_json"):
                kwargs["fmt"] = "json"
            return fn(*args, **kwargs)

        wrapped = json_option("Print as JSON (the same as --format json).")(wrapper)
        option = click.option(
            "--format",
            "fmt",
            type=click.Choice(formats),
            default=default,
            show_default=True,
            help=f"Output: {', '.join(formats)}.",
        )
        return option(wrapped)  # type: ignore[return-value]

    return apply


def deprecated(old: str, new: str) -> None:
    """The one-line note an old spelling prints (on stderr, so --json stays parseable)."""
    click.echo(
        f"perfpilot: warning: {old} is deprecated and goes in the next release; use {new}",
        err=True,
    )


def deprecated_format_option(choices: tuple[str, ...] = ("table", "json")) -> Callable[[F], F]:
    """A hidden ``--format`` kept for one release where a command now takes only
    ``--json`` (put it with ``json_option``): ``--format json`` means ``--json``."""

    def note(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
        if value is not None:
            deprecated(f"--format {value}", "--json" if value == "json" else "no option")
            ctx.meta[_OLD_JSON] = ctx.meta.get(_OLD_JSON) or value == "json"

    return click.option(
        "--format",
        type=click.Choice(choices),
        hidden=True,
        expose_value=False,
        callback=note,
        help="Deprecated: use --json.",
    )
