"""The results database: one SQLite file (``<workspace>/results.sqlite``) indexing local run
records and imported published results. It can always be rebuilt from the run records.

Rows (``ResultsDB.rows``) are plain dicts with the keys in :data:`ROW_KEYS`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfpilot.errors import PerfpilotError, UsageError

if TYPE_CHECKING:
    from perfpilot.records import LoadgenResult, RunRecord
    from perfpilot.workspace import Workspace

DB_NAME = "results.sqlite"
SCHEMA_VERSION = 3
REBUILD_HINT = "Move it aside or run 'perfpilot results rebuild' to recreate it from the runs."

ROW_KEYS: tuple[str, ...] = (
    "id",
    "source",
    "run_id",
    "model",
    "scenario",
    "mode",
    "backend",
    "device",
    "system",
    "submitter",
    "division",
    "round",
    "status",
    "valid",
    "metric",
    "value",
    "accuracy",
    "p90_ms",
    "p99_ms",
    "ttft_p99_ms",
    "tpot_p99_ms",
    "standin",
    "started",
    "tags",
    "run_dir",
    "config",
    "provenance",
)
_JSON_KEYS = ("tags", "config", "provenance")
_BOOL_KEYS = ("valid", "standin")
FILTERS = ("model", "scenario", "backend", "device", "system", "source")

# Scenario -> metric name. Figures are what the official checker reports: Offline and
# Server samples/s (Server: completed), the stream scenarios the early-stopping latency
# estimate in milliseconds; token benchmarks (LLMs) tokens/s instead (see metric_name).
METRICS = {
    "Offline": "samples_per_second",
    "Server": "samples_per_second",
    "SingleStream": "latency_ms",
    "MultiStream": "latency_ms",
    "Interactive": "samples_per_second",
}
# Token benchmarks (LLMs, whisper): the official figure of Offline, Server and
# Interactive is tokens/s, never to be compared with samples/s.
TOKEN_METRIC = "tokens_per_second"


def metric_name(scenario: str, unit: str | None) -> str | None:
    """The metric name of a figure: tokens/s for token runs, else the scenario's."""
    return TOKEN_METRIC if unit == "tokens/s" else METRICS.get(scenario)


def token_p99_ms(result: LoadgenResult | None) -> tuple[float | None, float | None]:
    """A token run's p99 time to first token and time per output token, in ms."""
    if result is None:
        return None, None
    ttft, tpot = result.ttft_ns.get("p99"), result.tpot_ns.get("p99")
    return (None if ttft is None else ttft / 1e6), (None if tpot is None else tpot / 1e6)


class ResultsDBError(PerfpilotError):
    """The database file is unreadable, not ours, or from a newer perfpilot."""

    exit_code = 2


# ---------------------------------------------------------------- schema and migrations

_V1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL, migrated TEXT NOT NULL);
CREATE TABLE results (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('local', 'published')),
    run_id TEXT,
    model TEXT, scenario TEXT, mode TEXT, backend TEXT, device TEXT, system TEXT,
    submitter TEXT, division TEXT, round TEXT,
    status TEXT, valid INTEGER, metric TEXT, value REAL, accuracy REAL,
    p90_ms REAL, p99_ms REAL, standin INTEGER NOT NULL DEFAULT 0,
    started TEXT, tags TEXT NOT NULL DEFAULT '{}', run_dir TEXT,
    config TEXT NOT NULL DEFAULT '{}', provenance TEXT NOT NULL DEFAULT '{}'
);
"""


def _script(conn: sqlite3.Connection, sql: str) -> None:
    """Run DDL statements one by one (``executescript`` would commit the open transaction)."""
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


def _to_v2(conn: sqlite3.Connection) -> None:
    """v2: a UTC timestamp for date filters, a tag table for tag filters and sweeps, the
    list of imports (where published rows came from), and indexes."""
    _script(
        conn,
        """
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    for rid, tags, started in conn.execute("SELECT id, tags, started FROM results").fetchall():
        conn.execute("UPDATE results SET started_utc = ? WHERE id = ?", (_utc(started), rid))
        for key, value in json.loads(tags or "{}").items():
            conn.execute(
                "INSERT INTO result_tags (result_id, key, value) VALUES (?, ?, ?)",
                (rid, key, str(value)),
            )


def _to_v3(conn: sqlite3.Connection) -> None:
    """v3: token benchmarks' p99 time to first token and time per output token. Rows
    indexed before stay empty there ('perfpilot results rebuild' fills local ones)."""
    _script(
        conn,
        """
        ALTER TABLE results ADD COLUMN ttft_p99_ms REAL;
        ALTER TABLE results ADD COLUMN tpot_p99_ms REAL;
        """,
    )


#: version -> step that brings a database of version-1 to it.
MIGRATIONS = {2: _to_v2, 3: _to_v3}


def create_v1(conn: sqlite3.Connection) -> None:
    """The first schema (kept so that migrations can be tested from it)."""
    _script(conn, _V1)
    conn.execute("INSERT INTO schema_version VALUES (1, ?)", (now_utc(),))


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(started: str | None) -> str | None:
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


# ---------------------------------------------------------------- rows from run records


def _token_figures(res: LoadgenResult) -> dict[str, float | None]:
    """TTFT p99, TPOT p50/p99 (ms) and samples/s of a token run, for the dashboard."""

    def ms(values: dict[str, int], key: str) -> float | None:
        return None if key not in values else values[key] / 1e6

    return {
        "ttft_p99_ms": ms(res.ttft_ns, "p99"),
        "tpot_p50_ms": ms(res.tpot_ns, "p50"),
        "tpot_p99_ms": ms(res.tpot_ns, "p99"),
        "samples_per_second": res.samples_per_second,
    }


def record_row(record: RunRecord) -> dict[str, Any]:
    """The database row of one local run record."""
    cfg = record.config
    res = record.result
    latency = res.latency_ns if res else {}

    def ms(key: str) -> float | None:
        value = latency.get(key)
        return None if value is None else value / 1e6

    scenario = str(cfg.get("scenario"))
    value = res.metric if res else None
    tokens = res is not None and res.metric_unit == "tokens/s"
    ttft, tpot = token_p99_ms(res)
    return {
        "id": record.run_id,
        "source": "local",
        "run_id": record.run_id,
        "model": record.model_label,  # --model-path: the user's file, not the catalog's
        "scenario": scenario,
        "mode": cfg.get("mode"),
        "backend": cfg.get("backend"),
        "device": cfg.get("device"),
        "system": str(record.provenance.get("system", {}).get("hostname") or "local"),
        "submitter": None,
        "division": None,
        "round": None,
        "status": record.status,
        "valid": res.valid if res else None,
        "metric": metric_name(scenario, res.metric_unit if res else None)
        if value is not None
        else None,
        "value": value,
        "accuracy": record.accuracy.value if record.accuracy else None,
        "p90_ms": ms("p90"),
        "p99_ms": ms("p99"),
        "ttft_p99_ms": ttft,
        "tpot_p99_ms": tpot,
        "standin": record.standin,
        "started": record.started,
        "tags": dict(record.tags),
        "run_dir": record.run_dir,
        "config": dict(cfg),
        "provenance": {
            **record.provenance,
            "session_id": record.session_id,
            "command": list(record.command),
            "config_hash": record.config_hash,
            "mlperf_model": mlperf_model(str(cfg.get("model"))),
            "model": record.model.model_dump(),
            "dataset": record.dataset.model_dump(),
            "loadgen_version": res.loadgen_version if res else None,
            "loadgen_settings": record.loadgen_settings,
            "error": record.error,
            # token runs' serving figures (TTFT, TPOT; JSON here: no schema step needed)
            "tokens": _token_figures(res) if tokens and res is not None else None,
        },
    }


def mlperf_model(name: str) -> str:
    """The MLPerf benchmark a catalog model runs as (``resnet50-standin`` -> ``resnet50``)."""
    try:
        from perfpilot.tasks import get_model

        return str(get_model(name).loadgen_name)
    except PerfpilotError:
        return name


def benchmark_of(row: Mapping[str, Any]) -> str:
    """The MLPerf benchmark of a row: local runs by their model's LoadGen name."""
    return str((row.get("provenance") or {}).get("mlperf_model") or row.get("model"))


# ---------------------------------------------------------------- the database


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)  # explicit transactions
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _version(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of an open file: 0 for an empty one; errors for others."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return 0
        if "schema_version" not in tables:
            raise ResultsDBError(
                f"{path} is an SQLite file but not a perfpilot results database", REBUILD_HINT
            )
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.DatabaseError as err:
        raise ResultsDBError(
            f"{path} is not a readable results database ({err})", REBUILD_HINT
        ) from err
    version = int(row[0] or 0)
    if version > SCHEMA_VERSION:
        raise ResultsDBError(
            f"{path} has schema version {version}; this perfpilot reads up to {SCHEMA_VERSION}",
            "Upgrade perfpilot, or rebuild the database with 'perfpilot results rebuild'.",
        )
    return version


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION` step by step, in one transaction."""
    version = _version(conn, path)
    if version == SCHEMA_VERSION:
        return version
    try:
        conn.execute("BEGIN IMMEDIATE")
        version = _version(conn, path)  # another process may have migrated meanwhile
        if version == 0:
            create_v1(conn)
            version = 1
        for step in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[step](conn)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (step, now_utc()))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def _parse_tag(tag: str) -> tuple[str, str]:
    key, sep, value = tag.partition("=")
    if not sep or not key:
        raise UsageError(f"bad tag filter {tag!r}", "Write it as KEY=VALUE, e.g. --tag sweep=s1.")
    return key, value


def _parse_date(text: str, option: str, end: bool) -> str:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as err:
        raise UsageError(
            f"bad date {text!r} for {option}", "Give a date like 2026-11-23 or 2026-11-23T12:00."
        ) from err
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    if end and len(text) <= 10:  # a bare date: the whole day
        return when.strftime("%Y-%m-%dT23:59:59")
    return when.strftime("%Y-%m-%dT%H:%M:%S")


class ResultsDB:
    """An open results database. Use :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    # -- opening

    @classmethod
    def path_for(cls, target: str | os.PathLike[str] | Workspace) -> Path:
        """The database file of a workspace, or the file given."""
        root = getattr(target, "root", None)
        if isinstance(root, Path):
            return root / DB_NAME
        return Path(target).expanduser().absolute()  # type: ignore[arg-type]

    @classmethod
    def open(cls, target: str | os.PathLike[str] | Workspace, create: bool = True) -> ResultsDB:
        """Open (and create or migrate) the database of a workspace or at a path."""
        path = cls.path_for(target)
        if path.is_dir():
            raise UsageError(f"{path} is a folder, not a results database", "Give a file.")
        if not path.exists():
            if not create:
                raise UsageError(
                    f"no results database at {path}",
                    "Run something first, or 'perfpilot results rebuild'.",
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = _connect(path)
        except sqlite3.Error as err:
            raise ResultsDBError(f"cannot open {path} ({err})", REBUILD_HINT) from err
        try:
            migrate(conn, path)
        except sqlite3.DatabaseError as err:
            conn.close()
            raise ResultsDBError(
                f"{path} is not a readable results database ({err})", REBUILD_HINT
            ) from err
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return _version(self.conn, self.path)

    # -- writing

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside happen, or none do (also on Ctrl-C)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _put(self, row: Mapping[str, Any], import_id: int | None = None) -> None:
        values = [
            json.dumps(row[k], sort_keys=True, default=str)
            if k in _JSON_KEYS
            else (None if row[k] is None else int(bool(row[k])))
            if k in _BOOL_KEYS
            else row[k]
            for k in ROW_KEYS
        ]
        cols = ", ".join((*ROW_KEYS, "started_utc", "import_id"))
        marks = ", ".join("?" * (len(ROW_KEYS) + 2))
        self.conn.execute("DELETE FROM results WHERE id = ?", (row["id"],))
        self.conn.execute(
            f"INSERT INTO results ({cols}) VALUES ({marks})",
            (*values, _utc(row["started"]), import_id),
        )
        for key, value in (row["tags"] or {}).items():
            self.conn.execute(
                "INSERT INTO result_tags (result_id, key, value) VALUES (?, ?, ?)",
                (row["id"], key, str(value)),
            )

    def add_record(self, record: RunRecord) -> None:
        """Insert (or replace) the row of one run record."""
        with self.transaction():
            self._put(record_row(record))

    def add_rows(self, rows: Iterable[Mapping[str, Any]], import_path: str | None = None) -> int:
        """Insert (or replace) rows in one transaction; returns how many."""
        count = 0
        with self.transaction() as conn:
            import_id = None
            if import_path is not None:
                cur = conn.execute(
                    "INSERT INTO imports (path, imported, rows) VALUES (?, ?, 0)",
                    (import_path, now_utc()),
                )
                import_id = cur.lastrowid
            for row in rows:
                missing = [k for k in ROW_KEYS if k not in row]
                if missing:
                    raise ValueError(f"row {row.get('id')!r} lacks {missing}")
                self._put(row, import_id)
                count += 1
            if import_id is not None:
                conn.execute("UPDATE imports SET rows = ? WHERE id = ?", (count, import_id))
        return count

    # -- reading

    def rows(
        self,
        model: str | None = None,
        scenario: str | None = None,
        backend: str | None = None,
        device: str | None = None,
        system: str | None = None,
        tag: str | Sequence[str] | Mapping[str, str] | None = None,
        since: str | None = None,
        until: str | None = None,
        source: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows matching every filter given (text filters ignore case), oldest first,
        published rows (no date) first."""
        where: list[str] = []
        args: list[Any] = []
        for col, value in (
            ("model", model),
            ("scenario", scenario),
            ("backend", backend),
            ("device", device),
            ("system", system),
            ("source", source),
        ):
            if value is not None:
                where.append(f"{col} = ? COLLATE NOCASE")
                args.append(value)
        if isinstance(tag, str):
            tags = [_parse_tag(tag)]
        elif isinstance(tag, Mapping):
            tags = [(str(k), str(v)) for k, v in tag.items()]
        else:
            tags = [_parse_tag(t) for t in tag or ()]
        for key, value in tags:
            where.append("id IN (SELECT result_id FROM result_tags WHERE key = ? AND value = ?)")
            args += [key, value]
        if since:
            where.append("started_utc >= ?")
            args.append(_parse_date(since, "--since", end=False))
        if until:
            where.append("started_utc <= ?")
            args.append(_parse_date(until, "--until", end=True))
        if ids:
            where.append(f"id IN ({', '.join('?' * len(ids))})")
            args += list(ids)
        sql = f"SELECT {', '.join(ROW_KEYS)} FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_utc IS NOT NULL, started_utc, id"
        return [self._row(r) for r in self.conn.execute(sql, args).fetchall()]

    @staticmethod
    def _row(raw: Sequence[Any]) -> dict[str, Any]:
        row = dict(zip(ROW_KEYS, raw, strict=True))
        for key in _JSON_KEYS:
            row[key] = json.loads(row[key] or "{}")
        for key in _BOOL_KEYS:
            row[key] = None if row[key] is None else bool(row[key])
        return row

    def get(self, row_id: str) -> dict[str, Any]:
        """One row by id (a unique prefix is enough)."""
        exact = self.rows(ids=[row_id])
        if exact:
            return exact[0]
        like = row_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found = self.conn.execute(
            "SELECT id FROM results WHERE id LIKE ? ESCAPE '\\' ORDER BY id", (like + "%",)
        ).fetchall()
        if not found:
            raise UsageError(
                f"no result {row_id!r} in {self.path}", "See 'perfpilot results list' for ids."
            )
        if len(found) > 1:
            raise UsageError(
                f"result id prefix {row_id!r} matches {len(found)} rows", "Give more of the id."
            )
        return self.rows(ids=[found[0][0]])[0]

    def sweeps(self) -> list[str]:
        """Names of the sweeps (tag ``sweep``) that rows belong to, sorted."""
        got = self.conn.execute(
            "SELECT DISTINCT value FROM result_tags WHERE key = 'sweep' ORDER BY value"
        )
        return [r[0] for r in got.fetchall()]

    def imports(self) -> list[dict[str, Any]]:
        """The imports done into this database: id, path, time, rows."""
        got = self.conn.execute("SELECT id, path, imported, rows FROM imports ORDER BY id")
        return [dict(zip(("id", "path", "imported", "rows"), r, strict=True)) for r in got]


# ---------------------------------------------------------------- rebuild and the hook


def rebuild(workspace: Workspace, path: Path | None = None) -> tuple[Path, int, int]:
    """Recreate the database from the workspace's run records, keeping the published rows
    of a readable old file. The new file replaces the old one at once (atomic rename).
    Returns (path, local rows, published rows kept)."""
    target = ResultsDB.path_for(path if path is not None else workspace)
    published: list[dict[str, Any]] = []
    imports: list[tuple[Any, ...]] = []
    if target.exists():
        try:
            with ResultsDB.open(target, create=False) as old:
                published = old.rows(source="published")
                imports = old.conn.execute(
                    "SELECT id, path, imported, rows FROM imports"
                ).fetchall()
                import_ids = dict(
                    old.conn.execute("SELECT id, import_id FROM results WHERE source='published'")
                )
        except ResultsDBError:
            published, imports, import_ids = [], [], {}  # unreadable: start over
    else:
        import_ids = {}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        records = workspace.records()
        with ResultsDB.open(tmp) as new, new.transaction() as conn:
            for entry in imports:
                conn.execute(
                    "INSERT INTO imports (id, path, imported, rows) VALUES (?,?,?,?)", entry
                )
            for row in published:
                new._put(row, import_ids.get(row["id"]))
            for record in records:
                new._put(record_row(record))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, len(records), len(published)


def index_record(workspace: Workspace, record: RunRecord) -> None:
    """Add one run record to the workspace's database: the ``on_record`` hook that the
    commands running tests give their workspace. run.json is the source of truth: a
    database failure only warns (``perfpilot results rebuild`` catches up later)."""
    try:
        with ResultsDB.open(workspace) as db:
            db.add_record(record)
    except Exception as err:  # noqa: BLE001 - the run is safe in run.json whatever failed
        text = err.one_line() if isinstance(err, PerfpilotError) else f"{err}"
        print(
            f"perfpilot: warning: run {record.run_id} is recorded in run.json but not in "
            f"the results database ({text})",
            file=sys.stderr,
        )
