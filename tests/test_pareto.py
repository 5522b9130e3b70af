"""Pareto fronts on points whose front is known by hand, and objective parsing."""

from __future__ import annotations

import math

import pytest

from perfpilot.errors import UsageError
from perfpilot.tune.pareto import dominates, pareto_front, parse_objectives
from perfpilot.tune.sweep import OBJECTIVES

POINTS = [
    {"id": "a", "throughput": 100.0, "p99": 5.0},
    {"id": "b", "throughput": 200.0, "p99": 9.0},  # front: fastest
    {"id": "c", "throughput": 90.0, "p99": 6.0},  # dominated by a
    {"id": "d", "throughput": 150.0, "p99": 5.0},  # front; dominates a
    {"id": "e", "throughput": 50.0, "p99": 1.0},  # front: lowest latency
    {"id": "f", "throughput": 200.0, "p99": 12.0},  # dominated by b (equal speed, slower)
]


def ids(points: list[dict[str, object]]) -> list[object]:
    return [p["id"] for p in points]


def test_front_max_min() -> None:
    front = pareto_front(POINTS, {"throughput": "max", "p99": "min"})
    assert ids(front) == ["b", "d", "e"]


def test_front_flips_with_direction() -> None:
    # Minimising both: the cheapest-and-fastest corner (e) dominates everything.
    assert ids(pareto_front(POINTS, {"throughput": "min", "p99": "min"})) == ["e"]
    # One objective: the maxima only (ties both stay).
    assert ids(pareto_front(POINTS, {"throughput": "max"})) == ["b", "f"]


def test_equal_points_both_stay_and_missing_values_are_left_out() -> None:
    pts = [
        {"id": "x", "t": 1.0, "m": 2.0},
        {"id": "y", "t": 1.0, "m": 2.0},
        {"id": "z", "t": None, "m": 0.0},
        {"id": "w", "t": math.nan, "m": 0.0},
        {"id": "v", "t": 0.5, "m": 3.0},
    ]
    assert ids(pareto_front(pts, {"t": "max", "m": "min"})) == ["x", "y"]


def test_three_objectives() -> None:
    pts = [
        {"id": 1, "t": 10, "l": 5, "mem": 100},
        {"id": 2, "t": 10, "l": 5, "mem": 90},  # dominates 1
        {"id": 3, "t": 5, "l": 5, "mem": 50},
        {"id": 4, "t": 4, "l": 6, "mem": 60},  # dominated by 3
    ]
    front = pareto_front(pts, {"t": "max", "l": "min", "mem": "min"})
    assert ids(front) == [2, 3]
    assert dominates(pts[1], pts[0], {"t": "max", "l": "min", "mem": "min"})
    assert not dominates(pts[0], pts[0], {"t": "max"})


def test_bad_objectives() -> None:
    with pytest.raises(ValueError):
        pareto_front(POINTS, {})
    with pytest.raises(ValueError):
        pareto_front(POINTS, {"throughput": "up"})  # type: ignore[dict-item]


def test_parse_objectives() -> None:
    known = OBJECTIVES
    assert parse_objectives("throughput:max, p99:min", known) == {  # type: ignore[arg-type]
        "throughput": "max",
        "p99": "min",
    }
    # A bare name takes its natural direction.
    assert parse_objectives("memory,accuracy", known) == {  # type: ignore[arg-type]
        "memory": "min",
        "accuracy": "max",
    }
    with pytest.raises(UsageError, match="unknown objective 'speed'"):
        parse_objectives("speed:max", known)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not max or min"):
        parse_objectives("p99:lowest", known)  # type: ignore[arg-type]
