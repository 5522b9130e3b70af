"""Where the results database lives and how to reach it: a SQLite file (by default the
workspace's ``results.sqlite``) or a PostgreSQL server (``postgresql://...``), given by
``--db`` or ``$PERFPILOT_DB``. Turns that into a SQLAlchemy engine and the driver's errors
into one-line ones; the schema and the rows are :mod:`perfpilot.results.schema` and
:mod:`perfpilot.results.db`'s business.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from perfpilot.errors import MissingExtraError, PerfpilotError, UsageError

ENV = "PERFPILOT_DB"
SQLITE_TIMEOUT_S = 30.0  # how long a writer waits for another's lock before "busy"
CONNECT_TIMEOUT_S = 10  # a server that does not answer: give up after this
RETRIES = 8  # serialization failures, deadlocks, SQLite busy: attempts in all

#: The SQLAlchemy driver perfpilot uses for each PostgreSQL spelling it accepts.
_POSTGRES = {"postgresql", "postgres", "postgresql+psycopg"}
URL_HINT = "Give a SQLite file, sqlite:///FILE, or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME."

T = TypeVar("T")


class ResultsDBError(PerfpilotError):
    """The database is unreadable, not ours, or from a newer perfpilot."""

    exit_code = 2


class DatabaseUnreachable(ResultsDBError):
    """A database server that does not answer, or refuses the connection."""


def hide_password(text: str) -> str:
    """A URL as text with its password replaced by ``***`` (also for unparsable ones)."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", text)


@dataclass(frozen=True)
class Target:
    """A results database: its SQLAlchemy URL, and its file when it is SQLite."""

    url: sa.URL
    path: Path | None

    @property
    def is_server(self) -> bool:
        return self.path is None

    @property
    def shown(self) -> str:
        """How messages name it: the file, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        return self.url.set(drivername="postgresql").render_as_string(hide_password=True)

    @classmethod
    def file(cls, path: Path) -> Target:
        path = path.expanduser().absolute()
        return cls(sa.URL.create("sqlite", database=str(path)), path)


def parse(text: str | os.PathLike[str], where: str = "--db") -> Target:
    """A ``--db`` value: a file path (SQLite), ``sqlite:///FILE`` or ``postgresql://...``."""
    raw = os.fspath(text)
    if "://" not in raw:
        return Target.file(Path(raw))
    try:
        url = sa.make_url(raw)
    except (sa.exc.ArgumentError, ValueError) as err:  # ValueError: a port not a number
        raise UsageError(f"bad database URL {hide_password(raw)!r} in {where}", URL_HINT) from err
    if url.drivername == "sqlite":
        if not url.database or url.database == ":memory:":
            raise UsageError(f"{where}: {raw!r} names no SQLite file", URL_HINT)
        return Target.file(Path(url.database))
    if url.drivername in _POSTGRES:  # no host: libpq's default, the local unix socket
        return Target(url.set(drivername="postgresql+psycopg"), None)
    raise UsageError(
        f"unsupported database URL scheme {url.drivername!r} in {where} ({hide_password(raw)})",
        URL_HINT,
    )


# ---------------------------------------------------------------- engines


def _sqlite_engine(target: Target) -> Engine:
    engine = sa.create_engine(target.url, connect_args={"timeout": SQLITE_TIMEOUT_S})

    # SQLAlchemy's documented recipe: let SQLAlchemy, not the sqlite3 module, begin
    # transactions, so that writers can take the lock up front (BEGIN IMMEDIATE) and
    # wait for each other instead of failing half-way when upgrading a read lock.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("perfpilot_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _server_engine(target: Target) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError as err:
        raise MissingExtraError(
            f"PostgreSQL support is not installed (needed for {target.shown})",
            "Install it with: pip install 'perfpilot[postgres]'",
        ) from err
    args: dict[str, Any] = {}
    if "connect_timeout" not in target.url.query:
        args["connect_timeout"] = CONNECT_TIMEOUT_S
    return sa.create_engine(target.url, connect_args=args)


def make_engine(target: Target) -> Engine:
    """An engine for the database; writers use ``engine.execution_options(perfpilot_write=
    True)`` (SQLite: BEGIN IMMEDIATE)."""
    return _server_engine(target) if target.is_server else _sqlite_engine(target)


# ---------------------------------------------------------------- errors and retries


def first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0].strip() if text else type(err).__name__


def is_transient(err: BaseException) -> bool:
    """An error a retry of the whole transaction can cure: PostgreSQL serialization
    failures and deadlocks, SQLite's busy or locked database."""
    orig = getattr(err, "orig", err)
    if getattr(orig, "sqlstate", None) in ("40001", "40P01"):
        return True
    return isinstance(orig, sqlite3.OperationalError) and (
        "locked" in str(orig) or "busy" in str(orig)
    )


def with_retries(attempt: Callable[[], T]) -> T:
    """``attempt()`` (one whole transaction), again after a transient failure, with a
    growing, jittered pause, so that many writers at once all get through."""
    for n in range(RETRIES):
        try:
            return attempt()
        except sa.exc.DBAPIError as err:
            if n == RETRIES - 1 or not is_transient(err):
                raise
            time.sleep(min(2.0, 0.05 * 2**n) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def server_error(target: Target, err: sa.exc.DBAPIError) -> ResultsDBError:
    """A server's connection or query error as one line saying what to do."""
    text = first_line(err)
    if isinstance(err, sa.exc.OperationalError) or err.connection_invalidated:
        if "does not exist" in text:
            hint = "Create it first (e.g. createdb), or point --db / PERFPILOT_DB elsewhere."
        else:
            hint = (
                "Start the PostgreSQL server (or fix --db / PERFPILOT_DB); runs stay in the "
                "workspace and 'perfpilot results sync' indexes them later."
            )
        return DatabaseUnreachable(
            f"cannot reach the results database {target.shown} ({text})", hint
        )
    return ResultsDBError(f"the results database {target.shown} failed ({text})")
