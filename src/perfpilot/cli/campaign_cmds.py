"""``perfpilot submission plan|run|generate``: from a model to a submission tree.
Registered on the ``submission`` group in ``submission_cmds`` (imported when used)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.options import OutPath, json_option, run_option, run_options
from perfpilot.cli.render import console
from perfpilot.cli.run_cmd import _progress_printer


def _plan_options(fn: Any) -> Any:
    for opt in reversed(
        [
            run_option("model", required=True, default=None),  # a plan names its model
            click.option(
                "--category",
                default="edge",
                show_default=True,
                help="System category: edge, datacenter or datacenter,edge.",
            ),
            click.option(
                "--division",
                type=click.Choice(["closed", "open"]),
                default="closed",
                show_default=True,
                help="closed: the reference model and rules; open: any model, fewer rules.",
            ),
            click.option(
                "--round",
                "round_name",
                metavar="ROUND",
                help="v4.1 ... v6.1 (default: the newest whose seeds the installed LoadGen has).",
            ),
            run_option("backend"),
            # its own --execution: default valid, as a submission needs official lengths
            click.option(
                "--execution",
                type=click.Choice(["valid", "test"]),
                default="valid",
                show_default=True,
                help="valid: official durations; test: short runs for a quick try.",
            ),
            click.option(
                "--settings",
                metavar="NAME",
                help="Settings profile (perfpilot tune --save NAME) for expected values.",
            ),
            run_option("dataset_path"),
            run_option("dataset_size"),
        ]
    ):
        fn = opt(fn)
    return fn


def _make_plan(
    ctx: Context,
    model: str,
    category: str,
    division: str,
    round_name: str | None,
    backend: str,
    execution: str,
    settings: str | None,
    dataset_path: Path | None = None,
    dataset_size: int | None = None,
) -> tuple[Any, Any, Any]:
    from perfpilot.results.db import indexer
    from perfpilot.submission.plan import make_plan, rates_from_profile, rates_from_workspace
    from perfpilot.workspace import Workspace

    workspace = Workspace.resolve(ctx.workspace, on_record=indexer(ctx.db))
    profile = None
    rates = rates_from_workspace(model, backend, workspace)
    if settings:
        from perfpilot.tune.profiles import load_profile

        profile = load_profile(workspace, settings)
        profile.check_for(model, backend, "cpu", settings)
    data: dict[str, Any] = {"dataset_size": dataset_size, "dataset_path": dataset_path}
    plan = make_plan(model, category, division, round_name, execution, backend, **data)
    if profile is not None:
        for scen, figure in rates_from_profile(profile, plan.scenarios).items():
            rates[scen] = rates[scen].merged(figure) if scen in rates else figure
    plan = make_plan(model, category, division, round_name, execution, backend, rates=rates, **data)
    return plan, workspace, profile


@click.command("plan")
@_plan_options
@json_option("Print the plan as JSON.")
@click.pass_obj
def plan_cmd(ctx: Context, /, as_json: bool, **kw: Any) -> int:
    """Every run the round requires for MODEL, with an estimated duration of each."""
    from perfpilot.submission.plan import format_duration

    plan, _, _ = _make_plan(ctx, **kw)
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return EXIT_OK
    out = console()
    table = Table(
        title=f"{plan.division} {plan.round} {plan.category}: {plan.folder_model} "
        f"({plan.mlperf_model}) on {plan.backend}, {plan.execution} runs",
        header_style="bold",
    )
    for col in ("scenario", "run", "estimate", "based on"):
        table.add_column(col, overflow="fold")
    for item in plan.items:
        estimate = (">= " if item.lower_bound else "") + format_duration(item.estimate_s)
        table.add_row(item.scenario, item.kind, estimate, item.basis)
    out.print(table)
    out.print(f"total: about {format_duration(plan.total_s)}", highlight=False)
    for note in plan.notes:
        out.print(f"note: {note}", highlight=False)
    return EXIT_OK


@click.command("run")
@_plan_options
@click.option("--name", help="Campaign name (default: model-backend-division-round-category).")
# no default here: an option not given leaves the settings profile's value (or RunConfig's)
@run_option("batch_size", default=None)
@run_options("threads", "backend_threads", "backend_options")
@click.option(
    "--only",
    multiple=True,
    help="Run only these items (e.g. Offline, or Offline/TEST01); repeatable.",
)
@json_option("Print the outcomes as JSON.")
@click.pass_obj
def run_cmd(
    ctx: Context,
    /,
    name: str | None,
    as_json: bool,
    only: tuple[str, ...],
    model: str,
    category: str,
    division: str,
    round_name: str | None,
    backend: str,
    execution: str,
    settings: str | None,
    dataset_path: Path | None,
    dataset_size: int | None,
    backend_options: tuple[str, ...],
    **run_options: Any,
) -> int:
    """Execute the plan (resumable): skips runs that already passed with the same config."""
    from perfpilot.config.run import parse_backend_options
    from perfpilot.submission.campaign import run_campaign

    if backend_options:
        run_options["backend_options"] = parse_backend_options(backend_options)

    plan, workspace, profile = _make_plan(
        ctx,
        model,
        category,
        division,
        round_name,
        backend,
        execution,
        settings,
        dataset_path,
        dataset_size,
    )
    run_options.update(dataset_path=dataset_path, dataset_size=dataset_size)
    base = {k: v for k, v in run_options.items() if v is not None}

    def options_for(scenario: str) -> dict[str, Any]:
        opts = dict(profile.options(scenario)) if profile is not None else {}
        return {**opts, **base}

    err = console(stderr=True)

    def event(key: str, text: str) -> None:  # timed: a valid campaign lasts hours
        err.print(f"{time.strftime('%H:%M:%S')} {key}: {text}", highlight=False)

    campaign, outcomes = run_campaign(
        plan,
        workspace,
        options_for,
        name=name,
        command=["perfpilot", *sys.argv[1:]],
        progress=_progress_printer(err),
        on_event=event,
        only=list(only) or None,
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "campaign": campaign.name,
                    "state": str(campaign.path),
                    "skipped": campaign.skipped,
                    "runs": [
                        {
                            "item": o.item.key,
                            "run_id": o.record.run_id,
                            "reused": o.reused,
                            "passed": o.passed,
                            "warning": o.warning,
                            "note": o.note,
                        }
                        for o in outcomes
                    ],
                },
                indent=2,
            )
        )
    else:
        passed = sum(o.passed for o in outcomes)
        warned = sum(o.warning for o in outcomes)
        click.echo(
            f"campaign {campaign.name}: {passed}/{len(outcomes)} passed "
            + (f"({warned} with a warning) " if warned else "")
            + f"({sum(o.reused for o in outcomes)} reused); state in {campaign.path}"
        )
        for o in outcomes:
            if not o.passed or o.warning:
                mark = "!" if o.passed else "x"
                click.echo(f"{mark} {o.item.key} ({o.record.run_id}): {o.note or 'failed'}")
    ok = outcomes and all(o.passed for o in outcomes) and not campaign.skipped
    return EXIT_OK if ok else EXIT_FAILED


@click.command("generate")
@click.option("--out", type=OutPath(folder=True), required=True, help="Tree root.")
@click.option("--submitter", required=True, help="Submitting organization (folder name).")
@click.option(
    "--system-json",
    type=click.Path(path_type=Path),
    required=True,
    help="System description (perfpilot system describe --out FILE).",
)
@click.option("--campaign", "campaign_name", help="Campaign to take the runs from.")
@click.option("--round", "round_name", metavar="ROUND", help="Round (default: the campaign's).")
@click.option(
    "--division",
    type=click.Choice(["closed", "open"]),
    help="Division folder of the tree (default: the campaign's).",
)
@click.option("--system-name", "system_id", help="System folder name (default: JSON file stem).")
@json_option("Print what was written as JSON.")
@click.pass_obj
def generate_cmd(
    ctx: Context,
    out: Path,
    submitter: str,
    system_json: Path,
    campaign_name: str | None,
    round_name: str | None,
    division: str | None,
    system_id: str | None,
    as_json: bool,
) -> int:
    """Lay out the submission tree from a campaign's runs, in the round's layout."""
    from perfpilot.errors import UsageError
    from perfpilot.submission.campaign import (
        CAMPAIGNS_DIR,
        load_campaign_plan,
        load_campaign_runs,
    )
    from perfpilot.submission.generate import generate
    from perfpilot.submission.system import load_system_json
    from perfpilot.workspace import Workspace

    load_system_json(system_json)  # a bad file is named before the campaign is read
    workspace = Workspace.resolve(ctx.workspace)
    if campaign_name is None:
        known = sorted(p.stem for p in (workspace.root / CAMPAIGNS_DIR).glob("*.json"))
        if len(known) != 1:
            raise UsageError(
                "which campaign? " + (f"found {', '.join(known)}" if known else "none found"),
                "Pass --campaign NAME (runs come from 'perfpilot submission run').",
            )
        campaign_name = known[0]
    runs = load_campaign_runs(workspace, campaign_name)
    plan = load_campaign_plan(workspace, campaign_name)
    result = generate(
        out, submitter, system_json, plan, runs, campaign_name, division, round_name, system_id
    )
    if as_json:
        data = {
            "root": str(result.root),
            "campaign": campaign_name,
            "scenarios": result.scenarios,
            "notes": result.notes,
            "missing_system_fields": result.missing_system_fields,
        }
        click.echo(json.dumps(data, indent=2))
        return EXIT_OK
    click.echo(f"wrote {result.root} ({', '.join(result.scenarios)})")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.missing_system_fields:
        click.echo(
            "warning: system JSON lacks " + ", ".join(result.missing_system_fields),
            err=True,
        )
    click.echo(f"next: perfpilot submission truncate {out}, then perfpilot submission check {out}")
    return EXIT_OK
