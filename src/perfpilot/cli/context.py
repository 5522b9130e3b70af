"""What every command shares: the global options object and the exit codes."""

from __future__ import annotations

# 0 ok, 1 a run or check failed, 2 usage or config error, 130 interrupted (Ctrl-C).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Context:
    """Global options every command sees."""

    def __init__(self, workspace: str | None, verbose: bool, db: str | None = None) -> None:
        self.workspace = workspace
        self.verbose = verbose
        self.db = db  # --db / $PERFPILOT_DB: a file or URL; None: the workspace's file
