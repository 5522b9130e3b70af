"""The results database's schema, the same on SQLite and PostgreSQL: the tables as
SQLAlchemy Core sees them (for queries) and the one migration path that builds them, step
by step, from version 1 (each step in the same transaction, under a lock, so that many
processes opening a fresh or old database at once migrate it exactly once).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from string import Template

import sqlalchemy as sa

from perfpilot.results.dburl import ResultsDBError, Target

SCHEMA_VERSION = 3
REBUILD_HINT = "Move it aside or run 'perfpilot results rebuild' to recreate it from the runs."
UPGRADE_HINT = "Upgrade perfpilot (pip install -U perfpilot) to use this database."

# ---------------------------------------------------------------- the current tables

metadata = sa.MetaData()
schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("migrated", sa.Text, nullable=False),
)
imports = sa.Table(
    "imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("imported", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
)
_TEXT = (
    "id source run_id model scenario mode backend device system submitter division round "
    "status metric started tags run_dir config provenance started_utc"
).split()
_REAL = "value accuracy p90_ms p99_ms ttft_p99_ms tpot_p99_ms".split()
results = sa.Table(
    "results",
    metadata,
    *(sa.Column(name, sa.Text, primary_key=name == "id") for name in _TEXT),
    *(sa.Column(name, sa.Float) for name in _REAL),
    sa.Column("valid", sa.Integer),
    sa.Column("standin", sa.Integer),
    sa.Column("import_id", sa.Integer),
)
result_tags = sa.Table(
    "result_tags",
    metadata,
    sa.Column("result_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
OUR_TABLES = frozenset(metadata.tables)

# ---------------------------------------------------------------- migrations

# The column types that differ: SQLite's REAL has 8 bytes, PostgreSQL's 4.
_TYPES = {
    "sqlite": {"real": "REAL", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgresql": {"real": "DOUBLE PRECISION", "serial": "SERIAL PRIMARY KEY"},
}

_V1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL, migrated TEXT NOT NULL);
CREATE TABLE results (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('local', 'published')),
    run_id TEXT,
    model TEXT, scenario TEXT, mode TEXT, backend TEXT, device TEXT, system TEXT,
    submitter TEXT, division TEXT, round TEXT,
    status TEXT, valid INTEGER, metric TEXT, value $real, accuracy $real,
    p90_ms $real, p99_ms $real, standin INTEGER NOT NULL DEFAULT 0,
    started TEXT, tags TEXT NOT NULL DEFAULT '{}', run_dir TEXT,
    config TEXT NOT NULL DEFAULT '{}', provenance TEXT NOT NULL DEFAULT '{}'
)
"""


def _ddl(conn: sa.Connection, sql: str) -> None:
    """Run fixed DDL statements (no values in them), with this database's types."""
    text = Template(sql).substitute(_TYPES[conn.dialect.name])
    for statement in text.split(";"):
        if statement.strip():
            conn.exec_driver_sql(statement)


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(started: str | None) -> str | None:
    """An ISO time as UTC ``YYYY-MM-DDTHH:MM:SS`` (naive times are taken as UTC)."""
    if not started:
        return None
    try:
        when = datetime.fromisoformat(started)
    except ValueError:
        try:
            when = datetime.strptime(started, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def create_v1(conn: sa.Connection) -> None:
    """The first schema (kept so that migrations can be tested from it)."""
    _ddl(conn, _V1)
    conn.execute(sa.insert(schema_version).values(version=1, migrated=now_utc()))


def _to_v2(conn: sa.Connection) -> None:
    """v2: a UTC timestamp for date filters, a tag table for tag filters and sweeps, the
    list of imports (where published rows came from), and indexes."""
    _ddl(
        conn,
        """
        CREATE TABLE imports (
            id $serial,
            path TEXT NOT NULL, imported TEXT NOT NULL, rows INTEGER NOT NULL
        );
        ALTER TABLE results ADD COLUMN started_utc TEXT;
        ALTER TABLE results ADD COLUMN import_id INTEGER REFERENCES imports(id);
        CREATE TABLE result_tags (
            result_id TEXT NOT NULL REFERENCES results(id) ON DELETE CASCADE,
            key TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (result_id, key)
        );
        CREATE INDEX results_model_scenario ON results(model, scenario);
        CREATE INDEX result_tags_kv ON result_tags(key, value);
        """,
    )
    old = conn.execute(sa.select(results.c.id, results.c.tags, results.c.started)).all()
    for rid, tags, started in old:
        conn.execute(sa.update(results).where(results.c.id == rid).values(started_utc=utc(started)))
        for key, value in json.loads(tags or "{}").items():
            conn.execute(sa.insert(result_tags).values(result_id=rid, key=key, value=str(value)))


def _to_v3(conn: sa.Connection) -> None:
    """v3: token benchmarks' p99 time to first token and time per output token. Rows
    indexed before stay empty there ('perfpilot results rebuild' fills local ones)."""
    _ddl(
        conn,
        """
        ALTER TABLE results ADD COLUMN ttft_p99_ms $real;
        ALTER TABLE results ADD COLUMN tpot_p99_ms $real;
        """,
    )


#: version -> step that brings a database of version-1 to it.
MIGRATIONS = {2: _to_v2, 3: _to_v3}

# One lock for every perfpilot migrating a PostgreSQL database (any fixed 64-bit number).
_MIGRATION_LOCK = 0x7065726670696C74


def version(conn: sa.Connection, target: Target) -> int:
    """The schema version of an open database: 0 for an empty one; errors for others."""
    names = set(sa.inspect(conn).get_table_names())
    if "schema_version" not in names:
        # A server's database may hold other programs' tables: ours are added beside them.
        if not names or (target.is_server and not names & OUR_TABLES):
            return 0
        raise ResultsDBError(
            f"{target.shown} is a database but not a perfpilot results database",
            REBUILD_HINT if not target.is_server else "Point --db at another database.",
        )
    found = int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)
    if found > SCHEMA_VERSION:
        raise ResultsDBError(
            f"{target.shown} has schema version {found}; this perfpilot reads up to "
            f"{SCHEMA_VERSION}",
            UPGRADE_HINT
            if target.is_server
            else "Upgrade perfpilot, or rebuild the database with 'perfpilot results rebuild'.",
        )
    return found


def migrate(engine: sa.Engine, target: Target) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`, all steps in one transaction."""
    with engine.connect() as conn:
        if version(conn, target) == SCHEMA_VERSION:
            return SCHEMA_VERSION
    with engine.execution_options(perfpilot_write=True).begin() as conn:
        if conn.dialect.name == "postgresql":  # DDL is transactional there; SQLite is
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))  # locked
        found = version(conn, target)  # another process may have migrated meanwhile
        if found == 0:
            create_v1(conn)
            found = 1
        for step in range(found + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[step](conn)
            conn.execute(sa.insert(schema_version).values(version=step, migrated=now_utc()))
    return SCHEMA_VERSION
