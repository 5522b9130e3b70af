"""The ``perfpilot`` command line."""

from perfpilot.cli.main import main

__all__ = ["main"]
