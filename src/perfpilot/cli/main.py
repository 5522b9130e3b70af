"""Entry point: the click group with its global options, the commands registered on it,
and error -> exit code mapping."""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from perfpilot import __version__
from perfpilot.cli import (
    cache_cmds,
    campaign_cmds,
    catalog_cmds,
    compliance_cmds,
    dashboard_cmds,
    dataset_cmds,
    reproduce_cmd,
    results_cmds,
    run_cmd,
    runs_cmds,
    submission_cmds,
    sweep_cmds,
    system_cmds,
    tune_cmds,
)
from perfpilot.cli.context import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Context
from perfpilot.errors import PerfpilotError, from_os_error
from perfpilot.interrupts import Interrupted, stop_signals_interrupt


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    metavar="DIR",
    help="Workspace folder for runs (default: $PERFPILOT_WORKSPACE or ./perfpilot-workspace).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and more detail.")
@click.version_option(__version__, prog_name="perfpilot")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, verbose: bool) -> None:
    """perfpilot: MLPerf Inference runs on the official LoadGen, one command each."""
    ctx.obj = Context(workspace, verbose)


cli.add_command(run_cmd.run)
cli.add_command(catalog_cmds.models)
cli.add_command(catalog_cmds.backends)
cli.add_command(runs_cmds.runs)
cli.add_command(cache_cmds.cache)
cli.add_command(dataset_cmds.dataset)
cli.add_command(dashboard_cmds.dashboard)
cli.add_command(results_cmds.results)
cli.add_command(reproduce_cmd.reproduce)
cli.add_command(tune_cmds.tune)
cli.add_command(sweep_cmds.sweep)
cli.add_command(submission_cmds.submission)
campaign_cmds.attach(submission_cmds.submission)  # submission plan/run/generate
cli.add_command(system_cmds.system)
cli.add_command(compliance_cmds.compliance)


def _err(text: str) -> None:
    click.echo(f"perfpilot: error: {text}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises, prints one line on error)."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "-v" in args or "--verbose" in args
    try:
        with stop_signals_interrupt():  # SIGTERM and SIGHUP stop a command as Ctrl-C does
            rv: Any = cli.main(args=args, prog_name="perfpilot", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help() if err.ctx else str(err))
        return EXIT_OK
    except click.UsageError as err:
        where = (
            f" (see 'perfpilot {err.ctx.command_path.split(' ', 1)[1]} --help')"
            if (err.ctx and " " in err.ctx.command_path)
            else " (see 'perfpilot --help')"
        )
        _err(err.format_message().replace("\n", " ") + where)
        return EXIT_USAGE
    except (click.exceptions.Abort, KeyboardInterrupt) as err:  # click: Ctrl-C is Abort
        cause = err.__cause__ or err.__context__ if isinstance(err, click.exceptions.Abort) else err
        how = f" by {cause.signal_name}" if isinstance(cause, Interrupted) else ""
        _err(f"interrupted{how} (a test in progress was stopped and recorded as interrupted)")
        return EXIT_INTERRUPTED
    except click.ClickException as err:
        _err(err.format_message())
        return err.exit_code
    except PerfpilotError as err:
        if verbose:
            traceback.print_exc()
        _err(err.one_line())
        return err.exit_code
    except OSError as err:  # a full disk, a read-only workspace: one line; others a bug
        if verbose:
            traceback.print_exc()
        known = from_os_error(err)
        if known is None:
            _err(f"unexpected {type(err).__name__}: {err} (run with -v for the traceback)")
            return EXIT_FAILED
        _err(known.one_line())
        return known.exit_code
    except Exception as err:  # noqa: BLE001 - a bug: one line, traceback with -v
        if verbose:
            traceback.print_exc()
        _err(f"unexpected {type(err).__name__}: {err} (run with -v for the traceback)")
        return EXIT_FAILED
    return int(rv) if isinstance(rv, int) else EXIT_OK


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
