"""Every shell command in README.md and docs/*.md runs, so the docs cannot drift
(issue 20). New docs are covered as they appear: the files are globbed.

Which commands
  Fenced blocks tagged ``sh``, ``bash``, ``shell`` or ``console``, and untagged blocks
  with a line starting with ``perfpilot `` or ``$ ``. In a block with ``$ `` lines (a
  transcript: command, then its output) only those lines are commands; elsewhere every
  line that is not a comment is. A trailing ``\\`` joins lines, ``# ...`` ends a command,
  ``a && b`` is two commands, and leading ``NAME=value`` words set the environment.

Markers (in the docs, where readers see why a command is not run here)
  ``<!-- doctest: skip (REASON) -->`` on the line before a block: none of its commands
      runs (a synopsis with ``[--option]``, a diagram).
  ``(needs internet)``, ``(needs a GPU)``, ``(needs a Ray cluster)``, ``(needs
      PostgreSQL)``, ``(needs ...)`` or ``(not run here: REASON)`` in a command's ``#``
      comment: that command does not run (official models and real datasets are
      downloads; servers on GPUs).
  ``(exits N)`` in a command's comment: it is shown for its error, and must exit N.

A command of a backend whose extra is not installed here is reported, not failed.

Substitutions (``SUBSTITUTIONS``): placeholders become what the test made (``RUN_ID``:
the workspace's latest run; ``my.onnx``: the built-in model's file; ``../shared/``: the
project's shared folder), and sizes shrink (official durations, tuning budgets, a
campaign limited to one scenario) so a file's commands take seconds to minutes.

Each doc file runs in its own temporary folder, workspace and copy of the session's
cache, its commands in order: later commands use what earlier ones made.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from tests.conftest import ROOT, SHARED, SYSTEM_YAML

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_TAGS = {"sh", "bash", "shell", "console"}
BLOCK_SKIP = re.compile(r"<!--\s*doctest:\s*skip\s*\(([^)]+)\)\s*-->")
LINE_SKIP = re.compile(r"\((needs [^)]+|not run here[^)]*)\)")
#: Commands other than perfpilot's that the test knows: None means "nothing to do here".
KNOWN = {". .venv/bin/activate": None}

#: (pattern, replacement), applied in order to each command before it runs.
SUBSTITUTIONS: list[tuple[str, str]] = [
    # official durations: minutes; here a second and 100 queries keep the meaning
    (
        r"^(perfpilot (?:--workspace \S+ )?run\b.*--execution valid)(?!.*--min-duration)",
        r"\1 --min-duration 1 --count 100",
    ),
    # the docs' /tmp folders: inside the test's own folder (other jobs share /tmp)
    (r"(^|\s)/tmp/", r"\1tmp/"),
    # tuning budgets: a short search still ends with a VALID/INVALID pair
    (r"^(perfpilot (?:--workspace \S+ )?tune\b(?!.*--budget).*)$", r"\1 --budget 20s"),
    # a campaign of a stand-in over images: one scenario's accuracy and performance
    (
        r"^(perfpilot (?:--workspace \S+ )?submission run --model resnet50-standin\b.*)$",
        r"\1 --execution test --only SingleStream/accuracy --only SingleStream/performance",
    ),
    # trees of test-length campaigns pass the checker with --relax-lengths
    (
        r"^(perfpilot submission (?:check|package) tree\b(?!.*--relax-lengths).*)$",
        r"\1 --relax-lengths",
    ),
    (r"\btune_trials=\d+", "tune_trials=4"),  # TVM's tuning: minutes per 64 trials
    # generating with transformers on 2 cores: seconds per answer; Offline, 4 tokens
    (r"^(perfpilot run .*--backend transformers.*)--scenario all\b", r"\1--scenario Offline"),
    (r"\bmax_new_tokens=\d+", "max_new_tokens=4"),
    (r"\bsweep report NAME\b", "sweep report docs-sweep"),  # the sweep file _prepare writes
    (r"\b(dashboard serve)(?!.*--port)", r"\1 --port 0"),  # other jobs use port 8000
    (r"--dataset-path DIR\b", "--dataset-path inet"),
    (r"--workspace DIR\b", "--workspace ws-other"),
    (r"\brun \.\.\.$", "run --mode accuracy"),
    (r"--port 8000\b", "--port 0"),
    (r"\.\./shared/", f"{SHARED}/"),
    (r"\bsynthetic-imagenet (\S+) --count \d+", r"synthetic-imagenet \1 --count 16"),
    (r"\bsynthetic-criteo (\S+) --count \d+", r"synthetic-criteo \1 --count 512"),
    (r"\bsynthetic-cnndm (\S+) --count \d+", r"synthetic-cnndm \1 --count 16"),
]


@dataclass(frozen=True)
class Command:
    doc: str
    line: int
    text: str  # as documented (joined lines, comment removed)
    skip: str | None  # why it does not run here
    exits: int = 0  # "(exits N)" in its comment: a command shown for its error

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def _strip_comment(line: str) -> tuple[str, str]:
    """(command, comment) of one shell line (a ``#`` after a space starts a comment)."""
    match = re.search(r"(^|\s)#", line)
    if match is None:
        return line.rstrip(), ""
    return line[: match.start()].rstrip(), line[match.end() :].strip()


def commands_of(path: Path) -> list[Command]:
    """The commands of one Markdown file, with the reason each one does not run, if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    doc = str(path.relative_to(ROOT))
    found: list[Command] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```(.*)$", lines[i])
        if fence is None:
            i += 1
            continue
        tag = fence.group(2).strip().split(" ")[0]
        start = i
        i += 1
        body: list[tuple[int, str]] = []
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append((i + 1, lines[i]))
            i += 1
        i += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        marker = BLOCK_SKIP.search(prev)
        starts = [text.lstrip() for _, text in body]
        if tag not in SHELL_TAGS and not (
            tag == "" and any(s.startswith(("perfpilot ", "$ ")) for s in starts)
        ):
            continue
        transcript = any(s.startswith("$ ") for s in starts)
        pending: list[str] = []
        pending_line = 0
        comments: list[str] = []
        in_command = False
        for number, raw in body:
            text = raw.strip()
            if not in_command:
                if transcript and not text.startswith("$ "):
                    continue
                text = text.removeprefix("$ ")
                if not text or text.startswith("#"):
                    continue
                pending_line = number
            command, comment = _strip_comment(text)
            comments.append(comment)
            in_command = command.endswith("\\")
            pending.append(command.removesuffix("\\").strip())
            if in_command:
                continue
            joined = " ".join(p for p in pending if p)
            notes = " ".join(comments)
            why = marker.group(1) if marker else None
            if why is None and (m := LINE_SKIP.search(notes)):
                why = m.group(1)
            code = re.search(r"\(exits (\d+)\)", notes)
            for part in joined.split(" && "):
                found.append(
                    Command(doc, pending_line, part.strip(), why, int(code.group(1)) if code else 0)
                )
            pending, comments = [], []
    return found


def substitute(text: str, run_id: str | None = None) -> str:
    for pattern, replacement in SUBSTITUTIONS:
        text = re.sub(pattern, replacement, text)
    if run_id is not None:  # a placeholder, or a run id of the machine the docs ran on
        text = re.sub(r"\bRUN_ID\b|\b\d{8}-\d{6}-[a-z]+-[a-z]+-[0-9a-f]{4}\b", run_id, text)
    return text


def needs_run(text: str) -> bool:
    return re.search(r"\bRUN_ID\b|\b\d{8}-\d{6}-[a-z]+-[a-z]+-[0-9a-f]{4}\b", text) is not None


def split(text: str) -> tuple[dict[str, str], list[str]]:
    """(environment assignments, argv) of one command."""
    words = shlex.split(text)
    env: dict[str, str] = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return env, [os.path.expanduser(w) for w in words]


ALL = [c for doc in DOCS for c in commands_of(doc)]


def test_docs_have_commands_and_markers_parse() -> None:
    """The parser finds the documented commands (a change in fencing that hides them all
    fails here), and every marker names its reason."""
    assert len([c for c in ALL if c.skip is None]) > 40
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if "doctest" in line:
                assert BLOCK_SKIP.search(line), f"{doc}:{number}: malformed marker: {line}"


@pytest.mark.parametrize("command", [c for c in ALL if c.skip is None], ids=str)
def test_documented_command_parses(command: Command) -> None:
    """Each command's options and subcommands exist (no run): fast, and the first thing
    to fail when a flag is renamed."""
    from perfpilot.cli.main import cli

    _, argv = split(substitute(command.text, "RUN"))
    if " ".join(argv) in KNOWN or command.text in KNOWN:
        return
    assert argv[0] == "perfpilot", (
        f"{command}: not a perfpilot command; mark it '(needs ...)' or "
        "'(not run here: why)' in its comment, or add it to KNOWN"
    )
    ctx = cli.make_context("perfpilot", argv[1:], resilient_parsing=False)
    group: click.Command = cli
    args = [*ctx._protected_args, *ctx.args]
    while isinstance(group, click.Group) and args:
        name, sub, rest = group.resolve_command(ctx, args)
        assert sub is not None, f"{command}: no command {name!r}"
        ctx = sub.make_context(name or "", rest, parent=ctx)
        group, args = sub, [*ctx._protected_args, *ctx.args]
    assert not args or not isinstance(group, click.Group), f"{command}: incomplete"


# --- running them ---------------------------------------------------------------------

#: Commands that measure performance exit 1 when a run is INVALID; on a machine shared
#: with other jobs that verdict is the machine's, so exit 1 passes for them when nothing
#: failed to run (no "perfpilot: error:" line).
MEASURING = ("run", "tune", "reproduce", "sweep", "submission run", "compliance run")


def _prepare(folder: Path, cache: Path, digits: Path) -> None:
    """What the docs assume exists: a model file of the user's, a system description,
    a sweep file, a settings YAML."""
    shutil.copy(digits, folder / "my.onnx")
    shutil.copy(digits, folder / "model.onnx")
    (folder / "my-system.yaml").write_text(SYSTEM_YAML)
    (folder / "sys.yaml").write_text(SYSTEM_YAML)
    (folder / "sweep.yaml").write_text(
        "name: docs-sweep\nbase:\n  model: digits-cnn\n  mode: performance\n"
        "grid:\n  batch_size: [8, 32]\n"
    )


def _serve(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    """A server command: it runs until it answers its first page, then is stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        url = None
        assert proc.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            if m := re.search(r"http://127\.0\.0\.1:\d+/\S*", line):
                url = m.group(0)
        assert url is not None, f"{' '.join(argv)}: no URL printed (exit {proc.poll()})"
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _latest_run(cwd: Path, env: dict[str, str]) -> str:
    """The workspace's latest run, made first (a short performance run) when there is
    none: what RUN_ID stands for."""
    import json

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "perfpilot", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return done.stdout

    records = json.loads(cli("runs", "list", "--json") or "[]")
    if not records:
        cli("run", "--mode", "performance")
        records = json.loads(cli("runs", "list", "--json") or "[]")
    return str(records[-1]["run_id"])


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_run(doc: Path, tmp_path: Path, digits_model: Path) -> None:
    """A doc file's commands, in order, in one temporary folder and workspace."""
    runnable = [c for c in commands_of(doc) if c.skip is None]
    if not runnable:
        pytest.skip(f"{doc.name} has no command that runs here")
    cache = tmp_path / "cache"
    shutil.copytree(os.environ["PERFPILOT_CACHE"], cache, copy_function=os.link)
    _prepare(tmp_path, cache, digits_model)
    base = {**os.environ, "PERFPILOT_CACHE": str(cache), "HOME": str(tmp_path)}
    base.pop("PERFPILOT_WORKSPACE", None)
    failures: list[str] = []
    missing: list[str] = []
    for command in runnable:
        text = substitute(command.text)
        if needs_run(text):
            text = substitute(command.text, _latest_run(tmp_path, base))
        env, argv = split(text)
        if " ".join(argv) in KNOWN or (str(SHARED) in text and not SHARED.is_dir()):
            continue  # nothing to do here; or the project's shared fixtures are absent
        env = {**base, **env}
        words = " ".join(argv[1:])
        words = re.sub(r"^--workspace \S+ ", "", words)
        if words.startswith("dashboard serve"):
            _serve(["perfpilot", *argv[1:]], tmp_path, env)
            continue
        done = subprocess.run(
            [sys.executable, "-m", "perfpilot", *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        measuring = any(words.startswith(m) for m in MEASURING)
        ok = done.returncode == command.exits or (
            done.returncode == 1 and measuring and "perfpilot: error:" not in done.stderr
        )
        if done.returncode == 2 and "pip install 'perfpilot[" in done.stderr:
            missing.append(f"{command} ({done.stderr.strip()})")  # an extra not installed
            continue
        if not ok:
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
            failures.append(f"{command}\n    -> exit {done.returncode}: {' | '.join(tail)}")
    assert not failures, "documented commands that fail:\n" + "\n".join(failures)
    if missing:  # said, not failed: CI installs every extra (make test)
        pytest.skip("extras not installed here: " + "; ".join(missing))
