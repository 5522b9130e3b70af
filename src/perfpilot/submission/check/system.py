"""System description rules: ``systems/<system>.json`` exists, is a JSON object, and has
every field the official checker wants, with valid values matching the folders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perfpilot.submission.check.context import Context
from perfpilot.submission.tree import SubmitterDir, is_file
from perfpilot.userfiles import parse_json

# A system rule gets the submitter folder, the JSON's path and its parsed object.
SystemRule = Callable[[Context, SubmitterDir, Path, dict[str, Any]], None]


def fields(ctx: Context, sub: SubmitterDir, path: Path, data: dict[str, Any]) -> None:
    non_empty = set(ctx.common["system_fields_non_empty"])
    for key in ctx.common["system_fields"]:
        if key not in data:
            ctx.add("system-field-missing", path, f"field '{key}' is missing")
        elif key in non_empty and not str(data[key]).strip():
            ctx.add("system-field-empty", path, f"field '{key}' is empty")
        elif key in non_empty and not data[key]:
            # The official checker tests truth: a number 0 or false reads as empty.
            ctx.add(
                "system-field-empty",
                path,
                f"field '{key}' is {json.dumps(data[key])}, which the official checker "
                f'reads as empty (write "{data[key]}" as a string)',
            )


def status(ctx: Context, sub: SubmitterDir, path: Path, data: dict[str, Any]) -> None:
    value = str(data.get("status", "")).lower()
    if "status" in data and value not in ctx.common["statuses"]:
        ctx.add("system-status", path, f"status '{data.get('status')}' is not valid")


def system_type(ctx: Context, sub: SubmitterDir, path: Path, data: dict[str, Any]) -> None:
    stype = str(data.get("system_type", ""))
    if "system_type" in data and stype not in ctx.common["system_types"]:
        ctx.add("system-type", path, f"system_type '{stype}' is not valid")


def matches_folders(ctx: Context, sub: SubmitterDir, path: Path, data: dict[str, Any]) -> None:
    if "division" in data and data["division"] != sub.division:
        ctx.add(
            "system-mismatch",
            path,
            f"division '{data['division']}' but the folder is '{sub.division}'",
        )
    if "submitter" in data and str(data["submitter"]).lower() != sub.name.lower():
        ctx.add(
            "system-mismatch",
            path,
            f"submitter '{data['submitter']}' but the folder is '{sub.name}'",
        )


RULES: tuple[SystemRule, ...] = (fields, status, system_type, matches_folders)


def check_system(ctx: Context, sub: SubmitterDir, system: str) -> None:
    """Read ``systems/<system>.json`` of ``sub`` and apply RULES to it."""
    path = sub.path / "systems" / f"{system}.json"
    if not is_file(path):
        ctx.add("system-json-missing", path, f"no system description for '{system}'")
        return
    try:
        data = parse_json(path.read_text(errors="replace"))
    except json.JSONDecodeError as err:
        ctx.add("system-json-invalid", path, f"not valid JSON ({err.msg}, line {err.lineno})")
        return
    except ValueError as err:  # nested too deeply to read
        ctx.add("system-json-invalid", path, f"not valid JSON ({err})")
        return
    if not isinstance(data, dict):
        ctx.add("system-json-invalid", path, "not a JSON object")
        return
    for rule in RULES:
        rule(ctx, sub, path, data)
