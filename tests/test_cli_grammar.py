"""One grammar for the whole CLI (issue 20), checked by walking the click tree, so new
commands are covered as they are added: every option has help text, every command that
prints results takes ``--json`` (and ``--format`` only as ``table|csv|json``), and the
``--json`` of the commands that can run here prints one valid JSON document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tests.conftest import FIXTURE, needs_fixture, run_cli

#: Commands that print no results, and why (everything else must take --json).
NO_RESULTS = {
    "dashboard serve": "a server: prints its URL, then serves until stopped",
}
#: Command groups whose commands make files and print progress, not results.
NO_RESULTS_GROUPS = {"dataset": "synthetic-* write a dataset folder and say where"}


def commands() -> Iterator[tuple[str, click.Command]]:
    """Every leaf command of the CLI with its path (``results list``), lazily loaded
    groups included."""
    from perfpilot.cli.main import cli

    ctx = click.Context(cli)

    def walk(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd is not None, f"{prefix}{name}: listed but not found"
            path = f"{prefix}{name}"
            if isinstance(cmd, click.Group):
                yield from walk(cmd, f"{path} ")
            else:
                yield path, cmd

    yield from walk(cli, "")


ALL = list(commands())


def _options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]


def test_the_walk_finds_the_cli() -> None:
    names = {path for path, _ in ALL}
    assert {"run", "results list", "cache rm", "submission run", "sweep report"} <= names


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[p for p, _ in ALL])
def test_every_option_has_help(path: str, cmd: click.Command) -> None:
    missing = [o.opts[0] for o in _options(cmd) if not (o.help or "").strip()]
    assert not missing, f"perfpilot {path}: options without help text: {missing}"
    assert (cmd.help or "").strip(), f"perfpilot {path}: no description"


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[p for p, _ in ALL])
def test_every_command_that_prints_results_takes_json(path: str, cmd: click.Command) -> None:
    if path in NO_RESULTS or path.split(" ")[0] in NO_RESULTS_GROUPS:
        return
    flags = {flag: o for o in _options(cmd) for flag in o.opts}
    assert "--json" in flags, f"perfpilot {path} prints results but has no --json"
    assert flags["--json"].is_flag
    if "--format" in flags:  # where rows make a CSV: the one set of formats
        choices = flags["--format"].type
        assert isinstance(choices, click.Choice)
        assert set(choices.choices) <= {"table", "csv", "json"}
        assert "json" in choices.choices


def test_submission_help_names_every_subcommand() -> None:
    from perfpilot.cli.submission_cmds import submission

    text = (submission.help or "").lower()
    for name in submission.commands:
        assert name in text, f"'perfpilot submission --help' does not describe {name}"


# --- the --json outputs ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, digits_model: Path) -> Path:
    """A workspace with one short run (the built-in model trained first, once per
    session, outside the run's time limit) and, later, published rows."""
    root = tmp_path_factory.mktemp("grammar") / "ws"
    done = run_cli("--workspace", str(root), "run", "--mode", "accuracy", "--dataset-size", "64")
    assert done.returncode == 0, done.stderr
    return root


def _json(ws: Path, *args: str) -> object:
    done = run_cli("--workspace", str(ws), *args)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return json.loads(done.stdout)


@pytest.mark.slow
def test_json_outputs_parse(ws: Path, tmp_path: Path) -> None:
    """--json of the commands that run here without downloads, each one document."""
    run_id = _json(ws, "runs", "list", "--json")[0]["run_id"]  # type: ignore[index]
    checked = [
        ("models", "list"),
        ("backends", "list"),
        ("runs", "show", run_id),
        ("cache", "list"),
        ("cache", "verify"),
        ("cache", "gc"),
        ("results", "list"),
        ("results", "show", run_id),
        ("results", "compare"),
        ("results", "export"),
        ("results", "rebuild"),
        ("system", "describe"),
        ("dashboard", "build", "--out", str(tmp_path / "dash")),
    ]
    for args in checked:
        _json(ws, *args, "--json")
    listed = _json(ws, "cache", "list", "--json")
    assert any(b["artifact"] == "digits-cnn" for b in listed["built"])  # type: ignore[index]


@pytest.mark.slow
@needs_fixture
def test_json_of_import_and_check(ws: Path) -> None:
    rows = _json(ws, "results", "import", str(FIXTURE), "--json")
    assert isinstance(rows, list) and len(rows) == 2
    report = _json(ws, "submission", "check", str(FIXTURE), "--round", "v4.1", "--json")
    assert isinstance(report, dict)


@pytest.mark.slow
def test_old_spellings_work_with_a_note(ws: Path) -> None:
    """The spellings before issue 20 still work for one release, saying so on stderr."""
    run_id = _json(ws, "runs", "list", "--json")[0]["run_id"]  # type: ignore[index]
    shown = run_cli("--workspace", str(ws), "results", "show", run_id, "--format", "json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == run_id
    assert "--format json is deprecated" in shown.stderr and "use --json" in shown.stderr
    exported = run_cli("--workspace", str(ws), "results", "export", "--to", "json")
    assert exported.returncode == 0
    assert run_id in [row["id"] for row in json.loads(exported.stdout)]
    assert "--to json is deprecated" in exported.stderr
    listed = run_cli("--workspace", str(ws), "results", "list", "--format", "csv")
    assert listed.returncode == 0 and listed.stdout.startswith("id,")
    assert "deprecated" not in listed.stderr  # --format stays where CSV makes sense
