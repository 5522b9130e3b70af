"""A real PostgreSQL server for the tests: Debian's postgresql binaries (``make test``
installs them), ``initdb`` and ``pg_ctl`` into a temporary folder, listening on 127.0.0.1
on a free port, its unix socket in that folder. As root, the server runs as ``nobody``
(PostgreSQL refuses to run as root)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _newest_bin() -> Path:
    """Debian's newest installed PostgreSQL (15 on bookworm), or $PERFPILOT_PG_BIN."""
    if os.environ.get("PERFPILOT_PG_BIN"):
        return Path(os.environ["PERFPILOT_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _newest_bin()
USER = "perfpilot"  # the server's superuser, trusted on 127.0.0.1 only


def missing() -> str | None:
    """Why no server can be started here (None: it can)."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not os.access(PG_BIN / tool, os.X_OK):
            return f"PostgreSQL binaries not found at {PG_BIN} (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install 'perfpilot[postgres]'"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A throwaway server; :meth:`new_database` gives each test its own database."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="perfpilot-pg-"))  # not under a 0700 folder
        self.data = self.root / "data"
        self.port = 0
        self._names = itertools.count(1)
        self._user = "nobody" if os.geteuid() == 0 else None
        if self._user is not None:
            shutil.chown(self.root, self._user)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, capture_output=True, text=True, user=self._user, cwd=self.root, timeout=120
        )

    def start(self) -> None:
        init = self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
        for _ in range(5):  # a port taken between the probe and the start: another one
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            started = self._run(
                str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                "-w", "-t", "60", "-o", options, "start",
            )  # fmt: skip
            if started.returncode == 0:
                return
        raise RuntimeError(f"pg_ctl start failed: {(self.root / 'log').read_text()[-2000:]}")

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        auth = USER if password is None else f"{USER}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"t{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # a fixed name made here, no user input
        return self.url(name)

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
