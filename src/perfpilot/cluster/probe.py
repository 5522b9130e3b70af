"""What a node has installed, asked before any trial starts. Standard library only: this
module travels to the node by value, so it answers even where perfpilot is missing."""

from __future__ import annotations

import importlib.util
import platform
import sys
from typing import Any


def probe(modules: list[str]) -> dict[str, Any]:
    """This node's hostname and Python, perfpilot's version here (None: not installed),
    and which of ``modules`` cannot be imported."""
    version = None
    if importlib.util.find_spec("perfpilot") is not None:
        try:
            import perfpilot

            version = str(perfpilot.__version__)
        except Exception:  # noqa: BLE001 - a broken install counts as missing
            version = None
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return {
        "hostname": platform.node(),
        "python": sys.version.split()[0],
        "perfpilot": version,
        "missing": missing,
    }
