"""``perfpilot dashboard serve``: the built site over HTTP on 127.0.0.1 only."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path
from typing import Any

from perfpilot.errors import UsageError

HOST = "127.0.0.1"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from one folder; logs nothing per request."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def make_server(out: Path, port: int) -> http.server.ThreadingHTTPServer:
    """A server for the dashboard in ``out`` (port 0: any free port)."""
    if not (out / "index.html").is_file():
        raise UsageError(
            f"no dashboard in {out}", "Build it first with 'perfpilot dashboard build'."
        )
    handler = functools.partial(_QuietHandler, directory=str(out))
    try:
        return http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as err:
        raise UsageError(
            f"cannot listen on {HOST}:{port} ({err.strerror or err})",
            "Pick another port with --port (0 picks a free one).",
        ) from err


def url_of(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"
