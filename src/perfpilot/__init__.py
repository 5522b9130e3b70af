"""perfpilot: one-command MLPerf Inference runs on the official LoadGen."""

__version__ = "0.1.0"
