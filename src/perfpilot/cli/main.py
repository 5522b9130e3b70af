"""Entry point: the click group with its global options, the commands registered on it,
and error -> exit code mapping."""

from __future__ import annotations

import sys
from typing import Any

import click

from perfpilot import __version__
from perfpilot.cli.context import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Context
from perfpilot.cli.lazy import LazyGroup
from perfpilot.errors import PerfpilotError, from_os_error
from perfpilot.interrupts import Interrupted, stop_signals_interrupt


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    metavar="DIR",
    help="Workspace folder for runs (default: $PERFPILOT_WORKSPACE or ./perfpilot-workspace).",
)
@click.option(
    "--db",
    metavar="URL",
    envvar="PERFPILOT_DB",
    help="Results database: a SQLite file or postgresql://USER@HOST/DB "
    "(default: $PERFPILOT_DB or <workspace>/results.sqlite).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and more detail.")
@click.version_option(__version__, prog_name="perfpilot")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, db: str | None, verbose: bool) -> None:
    """perfpilot: MLPerf Inference runs on the official LoadGen, one command each."""
    if db:  # a bad URL fails here, before anything runs
        from perfpilot.results.dburl import parse

        given = ctx.get_parameter_source("db") == click.core.ParameterSource.ENVIRONMENT
        parse(db, "PERFPILOT_DB" if given else "--db")
    ctx.obj = Context(workspace, verbose, db or None)


assert isinstance(cli, LazyGroup)
# One line per command: its name, where it lives, the short help `perfpilot --help` lists.
cli.add_lazy_command(
    "run",
    "perfpilot.cli.run_cmd:run",
    "Run LoadGen tests: every scenario x mode asked for, each in its own process.",
)
cli.add_lazy_command("models", "perfpilot.cli.catalog_cmds:models", "Models in the catalog.")
cli.add_lazy_command("backends", "perfpilot.cli.catalog_cmds:backends", "Inference backends.")
cli.add_lazy_command("runs", "perfpilot.cli.runs_cmds:runs", "Runs recorded in the workspace.")
cli.add_lazy_command(
    "cache",
    "perfpilot.cli.cache_cmds:cache",
    "Downloaded and added artifacts (models, datasets), stored by their SHA-256.",
)
cli.add_lazy_command(
    "dataset",
    "perfpilot.cli.dataset_cmds:dataset",
    "Datasets: make stand-ins for machines without the real ones.",
)
cli.add_lazy_command(
    "dashboard",
    "perfpilot.cli.dashboard_cmds:dashboard",
    "Static HTML dashboard of the results (works offline, no server needed).",
)
cli.add_lazy_command(
    "results",
    "perfpilot.cli.results_cmds:results",
    "The results database: local runs and imported published results.",
)
cli.add_lazy_command(
    "reproduce",
    "perfpilot.cli.reproduce_cmd:reproduce",
    "Re-run a recorded run from its resolved config; show old and new figures side by "
    "side and what differs in the environment.",
)
cli.add_lazy_command(
    "tune",
    "perfpilot.cli.tune_cmds:tune",
    "Tune settings: Offline peak, highest VALID Server and Interactive QPS, stream "
    "latencies (token benchmarks: judged by TTFT and TPOT, Offline in tokens/s too).",
)
cli.add_lazy_command(
    "sweep",
    "perfpilot.cli.sweep_cmds:sweep",
    "Design-space sweeps: run a grid of settings, report the Pareto front.",
)
cli.add_lazy_command(
    "submission",
    "perfpilot.cli.submission_cmds:submission",
    "MLPerf submissions, start to finish: plan the runs a model needs, run them (with the "
    "compliance tests) as a resumable campaign, generate the tree in the round's layout, "
    "truncate its accuracy logs, check it like the official checker, package it.",
)
cli.add_lazy_command(
    "system",
    "perfpilot.cli.system_cmds:system",
    "The MLPerf system description of this machine.",
)
cli.add_lazy_command(
    "compliance",
    "perfpilot.cli.compliance_cmds:compliance",
    "MLPerf compliance tests (audit.config runs verified against a submission run).",
)
cli.add_lazy_command(
    "fleet",
    "perfpilot.cli.fleet_cmds:fleet",
    "The same runs on every node of a Ray cluster, and the nodes compared.",
)


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
            _print_traceback()
        _err(err.one_line())
        return err.exit_code
    except OSError as err:  # a full disk, a read-only workspace: one line; others a bug
        if verbose:
            _print_traceback()
        known = from_os_error(err)
        if known is None:
            _err(f"unexpected {type(err).__name__}: {err} (run with -v for the traceback)")
            return EXIT_FAILED
        _err(known.one_line())
        return known.exit_code
    except Exception as err:  # noqa: BLE001 - a bug: one line, traceback with -v
        if verbose:
            _print_traceback()
        _err(f"unexpected {type(err).__name__}: {err} (run with -v for the traceback)")
        return EXIT_FAILED
    return int(rv) if isinstance(rv, int) else EXIT_OK


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


def _print_traceback() -> None:
    # imported here: only -v and bugs print one, and every command's start-up pays the import
    import traceback

    traceback.print_exc()
