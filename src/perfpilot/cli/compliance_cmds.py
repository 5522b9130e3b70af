"""``perfpilot compliance run TEST01|TEST04|TEST05|TEST06``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from perfpilot.cli.context import EXIT_FAILED, EXIT_OK, Context
from perfpilot.cli.options import OutPath, run_options


@click.group()
def compliance() -> None:
    """MLPerf compliance tests (audit.config runs verified against a submission run)."""


@compliance.command("run")
@click.argument("test")
@run_options("model", "backend")
# its own --scenario: required, and one scenario (no "all"), as a reference run has one
@click.option("--scenario", required=True, help="SingleStream, MultiStream, Server, Offline.")
@click.option("--round", "round_name", metavar="ROUND", help="Round (default: LoadGen's).")
@click.option("--reference-run", help="Submission performance run (default: newest passing).")
@click.option("--accuracy-run", help="TEST01: accuracy run (default: newest passing).")
@click.option(
    "--into",
    type=OutPath(folder=True),
    help="Also copy the results into this folder as TEST0x/ (the round layout's place).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def run_cmd(
    ctx: Context,
    test: str,
    model: str,
    backend: str,
    scenario: str,
    round_name: str | None,
    reference_run: str | None,
    accuracy_run: str | None,
    into: Path | None,
    as_json: bool,
) -> int:
    """Run TEST with the settings of the newest passing run of MODEL/SCENARIO (or
    --reference-run) and verify it against that run."""
    from perfpilot.config import build_run_configs
    from perfpilot.results.db import indexer
    from perfpilot.submission import compliance as comp
    from perfpilot.submission import rounds
    from perfpilot.submission.plan import mlperf_model_for
    from perfpilot.workspace import Workspace

    workspace = Workspace.resolve(ctx.workspace, on_record=indexer(ctx.db))
    round_name = rounds.get_round(round_name or rounds.default_round()).name
    mlperf, _ = mlperf_model_for(model, round_name)
    test = comp.check_test(test, round_name, mlperf)
    cfg = build_run_configs(scenario, "performance", model=model, backend=backend)[0]
    reference = comp.find_reference(
        workspace, model, backend, cfg.scenario, "performance", reference_run
    )
    accuracy = None
    if test == "TEST01":
        accuracy = comp.find_reference(
            workspace, model, backend, cfg.scenario, "accuracy", accuracy_run
        )
    ref_cfg = {
        k: v
        for k, v in reference.config.items()
        if k not in ("mode", "target_qps", "target_latency_ms")
    }
    cfg = cfg.model_validate({**ref_cfg, "mode": "performance"})
    result = comp.run_compliance(
        test,
        cfg,
        reference,
        accuracy,
        workspace,
        mlperf,
        ["perfpilot", *sys.argv[1:]],
    )
    placed = comp.place(test, result.run_dir, into) if into is not None else None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "test": test,
                    "run_id": result.record.run_id,
                    "reference_run": reference.run_id,
                    "accuracy_run": accuracy.run_id if accuracy else None,
                    "passed": result.passed,
                    "verify": {v.name: v.text for v in result.verifications},
                    "notes": result.notes,
                    "placed": str(placed) if placed else None,
                },
                indent=2,
            )
        )
    else:
        for v in result.verifications:
            click.echo(f"--- {v.name} ({result.run_dir / v.name})")
            click.echo(v.text.rstrip())
        for note in result.notes:
            click.echo(f"note: {note}")
        for v in result.verifications:
            if not v.passed:
                click.echo(f"x {v.line()}")
        click.echo(
            f"{test} {'PASS' if result.passed else 'FAIL'}: run {result.record.run_id} "
            f"against {reference.run_id}" + (f"; copied to {placed}" if placed else "")
        )
    return EXIT_OK if result.passed else EXIT_FAILED
