"""Pareto fronts: the points no other point beats on every objective at once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from perfpilot.errors import UsageError

Direction = Literal["max", "min"]


def _value(point: Mapping[str, Any], key: str) -> float | None:
    value = point.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def dominates(
    a: Mapping[str, Any], b: Mapping[str, Any], objectives: Mapping[str, Direction]
) -> bool:
    """True when ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    better = False
    for key, direction in objectives.items():
        va, vb = _value(a, key), _value(b, key)
        assert va is not None and vb is not None
        if direction == "min":
            va, vb = -va, -vb
        if va < vb:
            return False
        if va > vb:
            better = True
    return better


def pareto_front(
    points: list[dict[str, Any]], objectives: dict[str, Direction]
) -> list[dict[str, Any]]:
    """The Pareto-optimal points of ``points`` (in their input order).

    ``objectives`` maps a key of the points to ``"max"`` or ``"min"``. Points that lack a
    numeric, finite value for any objective cannot be compared and are left out. Equal
    points do not dominate each other, so all of them stay on the front.
    """
    if not objectives:
        raise ValueError("pareto_front needs at least one objective")
    for key, direction in objectives.items():
        if direction not in ("max", "min"):
            raise ValueError(f"objective {key!r}: direction must be 'max' or 'min'")
    usable = [p for p in points if all(_value(p, k) is not None for k in objectives)]
    return [p for p in usable if not any(dominates(q, p, objectives) for q in usable if q is not p)]


def parse_objectives(text: str, known: Mapping[str, Direction]) -> dict[str, Direction]:
    """``"throughput:max,p99:min"`` -> ``{"throughput": "max", "p99": "min"}``.

    A name alone takes its natural direction from ``known``; unknown names are an error.
    """
    out: dict[str, Direction] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, direction = part.partition(":")
        name, direction = name.strip(), direction.strip().lower()
        if name not in known:
            raise UsageError(
                f"unknown objective {name!r} in --objectives",
                f"Choose from: {', '.join(known)}.",
            )
        if direction and direction not in ("max", "min"):
            raise UsageError(
                f"objective {name!r}: direction {direction!r} is not max or min",
                "Write objectives as NAME:max or NAME:min, comma-separated.",
            )
        out[name] = direction or known[name]  # type: ignore[assignment]
    if not out:
        raise UsageError("--objectives is empty", f"Choose from: {', '.join(known)}.")
    return out
