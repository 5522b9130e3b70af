"""Files a user hands perfpilot (val_map.txt, sweep files, settings profiles, system
YAML and JSON, campaign files, dataset lists): read here, so that every way one can be
wrong (missing, a folder, unreadable, not UTF-8 text, not JSON or YAML, nested too deep,
the wrong kind of top-level value) is one :class:`UsageError` naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from perfpilot.errors import UsageError

#: Top-level kinds a caller may ask for, as a user reads them.
_KINDS: dict[type, str] = {dict: "a mapping", list: "a list", str: "text"}


def blocked_by_file(path: Path) -> Path | None:
    """The file that stands where a folder on the way to ``path`` must be made (``f`` of
    ``f/out.json``), or None: what to say before writing, not a mkdir error half-way."""
    for above in Path(path).absolute().parents:
        if above.exists() or above.is_symlink():
            return None if above.is_dir() else above
    return None


def read_text(path: Path, what: str, hint: str | None = None) -> str:
    """The UTF-8 text of ``path``, a user's ``what`` ("sweep file", ...)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError as err:
        raise UsageError(f"{what} {path} not found", hint or "Check the path.") from err
    except IsADirectoryError as err:
        raise UsageError(f"{what} {path} is a folder, not a file", hint) from err
    except UnicodeDecodeError as err:
        bad = err.object[err.start : err.start + 1].hex()
        raise UsageError(
            f"{what} {path} is not UTF-8 text (byte 0x{bad} at offset {err.start})",
            hint or "Give a text file.",
        ) from err
    except OSError as err:
        raise UsageError(f"cannot read {what} {path}: {err.strerror or err}", hint) from err


def parse_json(text: str) -> Any:
    """``json.loads``, with nesting too deep to read raised as a ValueError like any
    other bad JSON (so tolerant readers of submission trees catch one error type)."""
    try:
        return json.loads(text)
    except RecursionError as err:
        raise ValueError("nested too deeply to read") from err


def load_json(path: Path, what: str, kind: type = dict, hint: str | None = None) -> Any:
    """The JSON value of ``path``, which must be of ``kind`` (dict: a JSON object)."""
    text = read_text(path, what, hint)
    try:
        data = parse_json(text)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{what} {path} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})",
            hint or "Fix the file.",
        ) from err
    except ValueError as err:
        raise UsageError(f"{what} {path} is not valid JSON ({err})", hint) from err
    return _checked(data, path, what, kind, "JSON", hint)


def load_yaml(path: Path, what: str, kind: type = dict, hint: str | None = None) -> Any:
    """The YAML value of ``path`` (read with ``safe_load``), which must be of ``kind``;
    an empty file reads as an empty ``kind``."""
    import yaml

    text = read_text(path, what, hint)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        # a marked error's problem ("expected ',' or ']'") says more than its context
        problem = getattr(err, "problem", None) or str(err).split("\n")[0] or type(err).__name__
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(
            f"{what} {path} is not valid YAML ({problem.rstrip(':')}{at})", hint or "Fix the file."
        ) from err
    except RecursionError as err:
        raise UsageError(f"{what} {path} is not valid YAML (nested too deeply to read)") from err
    if data is None:
        return kind()
    return _checked(data, path, what, kind, "YAML", hint)


def _checked(data: Any, path: Path, what: str, kind: type, fmt: str, hint: str | None) -> Any:
    if isinstance(data, kind):
        return data
    want = _KINDS.get(kind, kind.__name__)
    got = _KINDS.get(type(data), "null" if data is None else f"a {type(data).__name__}")
    raise UsageError(
        f"{what} {path} must hold {want} at the top, not {got}", hint or f"Fix the {fmt}."
    )


class OutPath(click.Path):
    """A file or folder to write (``folder``): not an existing one of the other kind, and
    no file where a folder on its way must be made."""

    def __init__(self, folder: bool = False) -> None:
        super().__init__(file_okay=not folder, dir_okay=folder, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = Path(str(super().convert(value, param, ctx)))
        blocker = blocked_by_file(path)
        if blocker is not None:
            self.fail(f"{str(path)!r} lies under {str(blocker)!r}, a file.", param, ctx)
        return path
