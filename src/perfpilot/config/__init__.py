"""Typed configuration: what a user asks for, validated without side effects."""

from perfpilot.config.run import (
    EXECUTION_MODES,
    MODES,
    SCENARIOS,
    RunConfig,
    build_run_configs,
)

__all__ = ["EXECUTION_MODES", "MODES", "SCENARIOS", "RunConfig", "build_run_configs"]
