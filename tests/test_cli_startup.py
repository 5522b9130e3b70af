"""`perfpilot --help` starts without importing anything heavy; commands load on use.

Load-proof: what is imported is checked (``python -X importtime`` lists every module
imported), never how long it took. bench/checker.py measures the time.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from perfpilot.cli.lazy import LazyGroup
from perfpilot.cli.main import cli
from perfpilot.cli.submission_cmds import submission

HEAVY = (
    "numpy",
    "onnxruntime",
    "torch",
    "tensorflow",
    "pandas",
    "yaml",
    "mlperf_loadgen",
    "pydantic",
    "rich",
    "transformers",
    "openvino",
    "sqlite3",
)
# all of perfpilot that `perfpilot --help` may import
HELP_MODULES = {
    "perfpilot",
    "perfpilot.__main__",
    "perfpilot.cli",
    "perfpilot.cli.main",
    "perfpilot.cli.lazy",
    "perfpilot.cli.context",
    "perfpilot.errors",
    "perfpilot.interrupts",  # SIGTERM/SIGHUP as Ctrl-C: stdlib only
}
TREE = Path(__file__).parent / "data" / "conformance" / "v5.1" / "open_Lenovo" / "tree"


def imported(*args: str) -> set[str]:
    """Every module ``python -X importtime -m perfpilot ARGS`` imports."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "perfpilot", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    assert "click" in names  # the listing is there at all
    return names


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


def test_help_imports_nothing_heavy() -> None:
    names = imported("--help")
    assert heavy(names) == []
    assert {n for n in names if n.startswith("perfpilot")} <= HELP_MODULES


def test_submission_check_imports_no_runtime_no_yaml_and_no_pydantic(tmp_path: Path) -> None:
    """The checker needs its rules and the log parser, not numpy, rich, YAML or pydantic
    (a tenth of a second: the log parser's types are plain dataclasses)."""
    csv = tmp_path / "summary.csv"
    names = imported("submission", "check", str(TREE), "--round", "v5.1", "--csv", str(csv))
    assert "perfpilot.submission.check" in names and csv.exists()
    assert heavy(names) == []


def test_help_lists_every_command() -> None:
    from click.testing import CliRunner

    out = CliRunner().invoke(cli, ["--help"]).output
    assert isinstance(cli, LazyGroup)
    for name in cli.lazy:
        assert f"  {name} " in out


def _first_paragraph(command: click.Command) -> str:
    return inspect.cleandoc(command.help or "").split("\n\n")[0].replace("\n", " ")


@pytest.mark.parametrize("group", [cli, submission], ids=["perfpilot", "submission"])
def test_registered_help_is_the_commands_own(group: click.Group) -> None:
    """Each lazy command loads, under its registered name, and the short help listed
    without importing it is the first paragraph of its own help."""
    assert isinstance(group, LazyGroup)
    ctx = click.Context(group)
    for name, (_, short_help, _) in group.lazy.items():
        command = group.get_command(ctx, name)
        assert command is not None and command.name == name
        assert short_help == _first_paragraph(command), name
