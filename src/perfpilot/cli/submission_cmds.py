"""``perfpilot submission``: truncate, check and package MLPerf submission trees (plan, run
and generate are in campaign_cmds)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK
from perfpilot.cli.lazy import LazyGroup
from perfpilot.userfiles import OutPath  # not cli.options: that imports pydantic

ROUND_HELP = "MLPerf round (v4.1, v5.0, v5.1, v6.0, v6.1); default: the one the logs' seeds match."
RELAX_HELP = (
    "Open division only: report test-length runs (short duration, few queries, subset "
    "accuracy) as warnings, not errors."
)


@click.group(cls=LazyGroup)
def submission() -> None:
    """MLPerf submissions, start to finish: plan the runs a model needs, run them (with
    the compliance tests) as a resumable campaign, generate the tree in the round's
    layout, truncate its accuracy logs, check it like the official checker, package it."""


# plan, run and generate come with the run options (pydantic, rich): imported on use
assert isinstance(submission, LazyGroup)
submission.add_lazy_command(
    "plan",
    "perfpilot.cli.campaign_cmds:plan_cmd",
    "Every run the round requires for MODEL, with an estimated duration of each.",
)
submission.add_lazy_command(
    "run",
    "perfpilot.cli.campaign_cmds:run_cmd",
    "Execute the plan (resumable): skips runs that already passed with the same config.",
)
submission.add_lazy_command(
    "generate",
    "perfpilot.cli.campaign_cmds:generate_cmd",
    "Lay out the submission tree from a campaign's runs, in the round's layout.",
)


@submission.command("truncate")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--backup",
    type=OutPath(folder=True),
    help="Where the original accuracy logs go (default: <DIR>-accuracy-backup beside DIR).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def truncate_cmd(directory: Path, backup: Path | None, as_json: bool) -> int:
    """Hash and truncate every mlperf_log_accuracy.json (official semantics, idempotent)."""
    from perfpilot.submission.truncate import truncate_tree

    report = truncate_tree(directory, backup)
    if as_json:
        data = {
            "truncated": report.truncated,
            "skipped": report.skipped,
            "problems": report.problems,
            "backup": str(report.backup),
        }
        click.echo(json.dumps(data, indent=2))
        return EXIT_FAILED if report.problems else EXIT_OK
    for rel in report.truncated:
        click.echo(f"truncated {rel}/mlperf_log_accuracy.json")
    for rel in report.skipped:
        click.echo(f"already truncated {rel}")
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if report.truncated:
        click.echo(f"originals backed up under {report.backup}: keep them")
    return EXIT_FAILED if report.problems else EXIT_OK


@submission.command("check")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--round", "round_name", metavar="ROUND", help=ROUND_HELP)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the summary CSV here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--relax-lengths", is_flag=True, help=RELAX_HELP)
def check_cmd(
    directory: Path,
    round_name: str | None,
    csv_path: Path | None,
    as_json: bool,
    relax_lengths: bool,
) -> int:
    """Check a submission tree against the round's rules; exit 1 on errors."""
    from perfpilot.submission.check import check_tree, write_csv

    report = check_tree(directory, round_name, relax_lengths=relax_lengths)
    if csv_path is not None:
        write_csv(report, csv_path)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return EXIT_OK if report.ok else EXIT_FAILED
    how = {
        "option": "--round",
        "seeds": "from the logs' seeds",
        "folder": "from the folder's name",
        "default": "default",
    }
    click.echo(f"checking {directory} against round {report.round} ({how[report.round_source]})")
    for row in report.results:
        # the number as a person reads it (the CSV keeps the official checker's form)
        value = "-" if row.result is None else f"{round(float(row.result), 6)!r} {row.units}"
        acc = f", accuracy {row.accuracy}" if row.accuracy else ""
        if row.power is not None:
            acc += f", power {round(row.power, 3)!r} {row.power_units}"
        verdict = "OK" if row.passed else "ERROR"
        click.echo(f"{verdict:5} {row.location}: {value}{acc}")
    for finding in report.findings:
        click.echo(finding.line())
    if csv_path is not None:
        click.echo(f"summary CSV: {csv_path}")
    click.echo(
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
        + (" (test lengths relaxed)" if report.relaxed else "")
    )
    click.echo(report.summary_line())
    return EXIT_OK if report.ok else EXIT_FAILED


@submission.command("package")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=OutPath(),
    help="Archive path (default: <DIR>.tar.gz beside DIR).",
)
@click.option("--round", "round_name", metavar="ROUND", help=ROUND_HELP)
@click.option("--relax-lengths", is_flag=True, help=RELAX_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the package's paths and members.")
def package_cmd(
    directory: Path, out: Path | None, round_name: str | None, relax_lengths: bool, as_json: bool
) -> int:
    """Check the tree and, if it passes, write <name>.tar.gz and its .sha256."""
    from perfpilot.submission.package import package_tree

    result = package_tree(directory, out, round_name, relax_lengths=relax_lengths)
    if as_json:
        data = {
            "archive": str(result.archive),
            "sha256": result.sha256,
            "sha256_file": str(result.sha256_file),
            "round": result.report.round,
            "members": result.members,
        }
        click.echo(json.dumps(data, indent=2))
        return EXIT_OK
    click.echo(f"{result.report.summary_line()} (round {result.report.round})")
    click.echo(f"package: {result.archive} ({len(result.members)} entries)")
    click.echo(f"sha256:  {result.sha256} ({result.sha256_file})")
    for line in result.skipped:
        click.echo(f"perfpilot: skipped {line}", err=True)
    return EXIT_OK
