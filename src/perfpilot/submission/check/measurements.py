"""Measurements rules: each result's measurements folder holds user.conf, README.md and a
measurements JSON with every field filled in."""

from __future__ import annotations

from collections.abc import Callable

from perfpilot.submission.check.context import Context
from perfpilot.submission.tree import ScenarioEntry, is_dir, is_file

MeasurementsRule = Callable[[Context, ScenarioEntry], None]


def run_files(ctx: Context, entry: ScenarioEntry) -> None:
    """user.conf and README.md (and mlperf.conf in v4.1), none of them empty."""
    folder = entry.measurements_dir
    needed = ["user.conf", "README.md"] + (["mlperf.conf"] if ctx.rules.name == "v4.1" else [])
    if entry.endpoints is not None:
        needed.remove("user.conf")  # an Endpoints run has no LoadGen user.conf
    for name in needed:
        path = folder / name
        if not is_file(path):
            ctx.add("measurements-file-missing", path, f"{name} is missing")
        elif path.stat().st_size == 0:
            ctx.add("measurements-file-missing", path, f"{name} is empty")


def json_fields(ctx: Context, entry: ScenarioEntry) -> None:
    """The measurements JSON is there, is an object and fills every field."""
    if entry.measurements_path is None:
        want = "measurements.json" if entry.layout == "v6" else f"{entry.system}*.json"
        ctx.add("measurements-missing", entry.measurements_dir, f"no measurements JSON ({want})")
        return
    if entry.measurements is None:
        ctx.add("measurements-missing", entry.measurements_path, "not a valid JSON object")
        return
    for key in ctx.common["measurement_fields"]:
        value = entry.measurements.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            ctx.add(
                "measurements-field",
                entry.measurements_path,
                f"field '{key}' is missing or empty",
            )


def source_folder(ctx: Context, entry: ScenarioEntry) -> None:
    """From v6.0 the submitter's src/ holds the code of every result: the modular checker
    fails each result's measurements when it is missing."""
    src = entry.path.parents[3] / "src"
    if entry.layout == "v6" and not (is_dir(src) or is_file(src)):
        ctx.add("code-missing", entry.path, f"no src/ folder in {src.parent.name} (the code)")


RULES: tuple[MeasurementsRule, ...] = (run_files, json_fields, source_folder)


def check_measurements(ctx: Context, entry: ScenarioEntry) -> None:
    """Apply RULES to the measurements folder of ``entry`` (one finding if it is missing)."""
    if not is_dir(entry.measurements_dir):
        ctx.add("measurements-missing", entry.measurements_dir, "measurements folder is missing")
        return
    for rule in RULES:
        rule(ctx, entry)
