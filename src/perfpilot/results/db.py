"""The results database: local run records and imported published results, in one
SQLite file (``<workspace>/results.sqlite``) or a shared PostgreSQL database (``--db``,
``$PERFPILOT_DB``; see :mod:`perfpilot.results.dburl`). It indexes the run records, so it
can always be rebuilt or caught up (``results sync``) from them.

Rows (``ResultsDB.rows``) are plain dicts with the keys in
:data:`perfpilot.results.record_rows.ROW_KEYS`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite

from perfpilot.errors import PerfpilotError, ReadOnlyError, UsageError
from perfpilot.results.dburl import (
    DatabaseUnreachable,
    ResultsDBError,
    Target,
    first_line,
    is_transient,
    make_engine,
    parse,
    server_error,
    with_retries,
)
from perfpilot.results.record_rows import ROW_KEYS, record_row
from perfpilot.results.schema import (
    MIGRATIONS,
    REBUILD_HINT,
    SCHEMA_VERSION,
    create_v1,
    imports,
    migrate,
    now_utc,
    result_tags,
    results,
    schema_version,
    utc,
    version,
)

if TYPE_CHECKING:
    from perfpilot.records import RunRecord
    from perfpilot.workspace import RecordHook, Workspace

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DatabaseUnreachable",
    "ResultsDBError",
    "create_v1",
    "now_utc",
]

DB_NAME = "results.sqlite"
T = TypeVar("T")

_JSON_KEYS = ("tags", "config", "provenance")
_BOOL_KEYS = ("valid", "standin")
FILTERS = ("model", "scenario", "backend", "device", "system", "source")


# ---------------------------------------------------------------- the database


def _readonly(err: BaseException) -> bool:
    """SQLite's refusal to write a read-only file or folder (as the driver words it)."""
    return "readonly" in str(err).lower() or "read-only" in str(err).lower()


def _readonly_error(path: object) -> ReadOnlyError:
    return ReadOnlyError(
        f"cannot write the results database {path}: it (or its folder) is read-only",
        "Choose a writable --workspace or --db, or make that folder writable.",
    )


def _emptied(path: Path, target: object) -> bool:
    """A workspace's database file cut to zero bytes (a full disk, a crash) while run
    records exist: SQLite would take it for a new, empty database."""
    try:
        if path.stat().st_size != 0:
            return False
    except OSError:
        return False
    runs = getattr(target, "runs_dir", None)
    return isinstance(runs, Path) and any(runs.glob("*/run.json"))


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


def _stored(row: Mapping[str, Any], import_id: int | None) -> dict[str, Any]:
    """A row's column values as stored: JSON text, booleans as 0/1, the UTC time."""
    values: dict[str, Any] = {}
    for key in ROW_KEYS:
        value = row[key]
        if key in _JSON_KEYS:
            value = json.dumps(value, sort_keys=True, default=str)
        elif key in _BOOL_KEYS:
            value = None if value is None else int(bool(value))
        values[key] = value
    values["standin"] = values["standin"] or 0
    return {**values, "started_utc": utc(row["started"]), "import_id": import_id}


_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (id) DO UPDATE of every column, built once per dialect."""
    if dialect not in _UPSERTS:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(results)
        _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=[results.c.id],
            set_={c.name: insert.excluded[c.name] for c in results.columns if c.name != "id"},
        )
    return _UPSERTS[dialect]


class ResultsDB:
    """An open results database. Use :meth:`open`; close with :meth:`close` or ``with``.
    Every write is one transaction, retried whole after a serialization failure or a busy
    SQLite file, so that many processes can write at once and lose nothing."""

    def __init__(self, target: Target, engine: sa.Engine) -> None:
        self.target = target
        self.engine = engine
        self._writer = engine.execution_options(perfpilot_write=True)

    # -- opening

    @classmethod
    def target_for(cls, target: str | os.PathLike[str] | Workspace | Target) -> Target:
        """The database of a workspace (its file), or the file or URL given."""
        if isinstance(target, Target):
            return target
        root = getattr(target, "root", None)
        if isinstance(root, Path):
            return Target.file(root / DB_NAME)
        return parse(target)  # type: ignore[arg-type]

    @classmethod
    def path_for(cls, target: str | os.PathLike[str] | Workspace) -> Path:
        """The database file of a workspace, or the file given."""
        path = cls.target_for(target).path
        if path is None:
            raise UsageError(f"{target} is a database server, not a file")
        return path

    @classmethod
    def open(
        cls, target: str | os.PathLike[str] | Workspace | Target, create: bool = True
    ) -> ResultsDB:
        """Open (and create or migrate) the database of a workspace, a file or a URL."""
        where = cls.target_for(target)
        path = where.path
        if path is not None:
            if path.is_dir():
                raise UsageError(f"{path} is a folder, not a results database", "Give a file.")
            if _emptied(path, target):
                rebuild(target)  # type: ignore[arg-type]
                print(
                    f"perfpilot: warning: {path} was empty (0 bytes); rebuilt it from the run "
                    "records (published results must be imported again)",
                    file=sys.stderr,
                )
            if not path.exists():
                if not create:
                    raise UsageError(
                        f"no results database at {path}",
                        "Run something first, or 'perfpilot results rebuild'.",
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(where)
        opened = cls(where, engine)
        try:
            with opened._errors():
                migrate(engine, where)
        except BaseException:
            engine.dispose()
            raise
        return opened

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path | None:
        """The SQLite file (``None`` for a server)."""
        return self.target.path

    @property
    def where(self) -> str:
        """The file, or the URL without its password."""
        return self.target.shown

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The driver's errors as one line (a server: unreachable; a file: unreadable)."""
        try:
            yield
        except sa.exc.DBAPIError as err:
            if self.target.is_server:
                raise server_error(self.target, err) from err
            if _readonly(err):
                raise _readonly_error(self.where) from err
            if is_transient(err):
                raise ResultsDBError(
                    f"{self.where} stayed locked by another writer ({first_line(err)})",
                    "Try again once the other perfpilot commands are done.",
                ) from err
            raise ResultsDBError(
                f"{self.where} is not a readable results database ({first_line(err)})",
                REBUILD_HINT,
            ) from err

    @property
    def schema_version(self) -> int:
        with self._errors(), self.engine.connect() as conn:
            return version(conn, self.target)

    def migrations(self) -> list[int]:
        """The schema steps applied, in order."""
        query = sa.select(schema_version.c.version).order_by(schema_version.c.version)
        with self._errors(), self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    # -- writing

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """All writes inside happen, or none do (also on Ctrl-C). Not retried: use it for
        a database no other process writes."""
        with self._errors(), self._writer.begin() as conn:
            yield conn

    def _write(self, work: Callable[[sa.Connection], T]) -> T:
        """``work`` in one write transaction, retried whole after a transient failure."""

        def attempt() -> T:
            with self._writer.begin() as conn:
                return work(conn)

        with self._errors():
            return with_retries(attempt)

    @staticmethod
    def _put(
        conn: sa.Connection, rows: Sequence[Mapping[str, Any]], import_id: int | None = None
    ) -> None:
        """Insert or update rows (an upsert keyed on the id) and replace their tags: three
        statements, each run once for all the rows."""
        if not rows:
            return
        conn.execute(_upsert(conn.dialect.name), [_stored(row, import_id) for row in rows])
        ids = [{"rid": row["id"]} for row in rows]
        conn.execute(
            sa.delete(result_tags).where(result_tags.c.result_id == sa.bindparam("rid")), ids
        )
        tags = [
            {"result_id": row["id"], "key": str(key), "value": str(value)}
            for row in rows
            for key, value in (row["tags"] or {}).items()
        ]
        if tags:
            conn.execute(sa.insert(result_tags), tags)

    def add_record(self, record: RunRecord) -> None:
        """Insert (or replace) the row of one run record."""
        self.add_records([record])

    def add_records(self, records: Sequence[RunRecord]) -> None:
        """Insert (or replace) the rows of run records, in one transaction."""
        rows = [record_row(record) for record in records]

        self._write(lambda conn: self._put(conn, rows))

    def add_rows(self, rows: Iterable[Mapping[str, Any]], import_path: str | None = None) -> int:
        """Insert (or replace) rows in one transaction; returns how many. The rows are all
        read first, so that a retried transaction writes the same ones."""
        taken = list(rows)
        for row in taken:
            missing = [k for k in ROW_KEYS if k not in row]
            if missing:
                raise ValueError(f"row {row.get('id')!r} lacks {missing}")

        def work(conn: sa.Connection) -> None:
            import_id = None
            if import_path is not None:
                added = conn.execute(
                    sa.insert(imports).values(path=import_path, imported=now_utc(), rows=0)
                )
                key = added.inserted_primary_key
                import_id = None if key is None else int(key[0])
            self._put(conn, taken, import_id)
            if import_id is not None:
                conn.execute(
                    sa.update(imports).where(imports.c.id == import_id).values(rows=len(taken))
                )

        self._write(work)
        return len(taken)

    def sync(self, workspace: Workspace) -> tuple[int, int]:
        """Index every run of the workspace that the database lacks (made while it was
        unreachable, or before it existed). Returns (indexed now, there already)."""
        have, missing = self._unindexed(workspace)
        if missing:
            self.add_records(missing)
        return len(missing), have

    def _unindexed(self, workspace: Workspace) -> tuple[int, list[RunRecord]]:
        """(how many runs are indexed, the readable records of those that are not). The
        run folders are named by run id: only the missing ones' run.json files are read."""
        from perfpilot.records import RunRecord
        from perfpilot.workspace import RUN_RECORD

        folders = (
            {p.parent.name: p for p in workspace.runs_dir.glob(f"*/{RUN_RECORD}")}
            if workspace.runs_dir.is_dir()
            else {}
        )
        names, known = sorted(folders), set[str]()
        with self._errors(), self.engine.connect() as conn:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                query = sa.select(results.c.id).where(results.c.id.in_(chunk))
                known.update(conn.execute(query).scalars())
        missing = []
        for name in names:
            if name not in known:
                try:
                    missing.append(RunRecord.model_validate_json(folders[name].read_text()))
                except (OSError, ValidationError, ValueError):
                    continue  # unreadable: 'runs list' skips it too
        return len(known), sorted(missing, key=lambda r: (r.started, r.run_id))

    # -- reading

    def _bytewise(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """Text ordered by bytes on both databases (PostgreSQL's default is the locale's)."""
        return column.collate("C") if self.engine.dialect.name == "postgresql" else column

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
        where: list[sa.ColumnElement[bool]] = []
        for col, value in (
            ("model", model),
            ("scenario", scenario),
            ("backend", backend),
            ("device", device),
            ("system", system),
            ("source", source),
        ):
            if value is not None:  # ASCII case folded on both sides, as SQLite's NOCASE
                where.append(sa.func.lower(results.c[col]) == sa.func.lower(value))
        if isinstance(tag, str):
            tags = [_parse_tag(tag)]
        elif isinstance(tag, Mapping):
            tags = [(str(k), str(v)) for k, v in tag.items()]
        else:
            tags = [_parse_tag(t) for t in tag or ()]
        for key, value in tags:
            tagged = sa.select(result_tags.c.result_id).where(
                result_tags.c.key == key, result_tags.c.value == value
            )
            where.append(results.c.id.in_(tagged))
        if since:
            where.append(results.c.started_utc >= _parse_date(since, "--since", end=False))
        if until:
            where.append(results.c.started_utc <= _parse_date(until, "--until", end=True))
        if ids:
            where.append(results.c.id.in_(list(ids)))
        query = (
            sa.select(*(results.c[k] for k in ROW_KEYS))
            .where(*where)
            .order_by(
                results.c.started_utc.is_not(None),
                self._bytewise(results.c.started_utc),
                self._bytewise(results.c.id),
            )
        )
        with self._errors(), self.engine.connect() as conn:
            return [self._row(r) for r in conn.execute(query).all()]

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
        query = (
            sa.select(results.c.id)
            .where(results.c.id.startswith(row_id, autoescape=True))
            .order_by(self._bytewise(results.c.id))
        )
        with self._errors(), self.engine.connect() as conn:
            found = list(conn.execute(query).scalars())
        if not found:
            raise UsageError(
                f"no result {row_id!r} in {self.where}", "See 'perfpilot results list' for ids."
            )
        if len(found) > 1:
            raise UsageError(
                f"result id prefix {row_id!r} matches {len(found)} rows", "Give more of the id."
            )
        return self.rows(ids=[found[0]])[0]

    def sweeps(self) -> list[str]:
        """Names of the sweeps (tag ``sweep``) that rows belong to, sorted."""
        value = self._bytewise(result_tags.c.value)
        query = sa.select(value).where(result_tags.c.key == "sweep").distinct().order_by(value)
        with self._errors(), self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def imports(self) -> list[dict[str, Any]]:
        """The imports done into this database: id, path, time, rows."""
        query = sa.select(imports.c.id, imports.c.path, imports.c.imported, imports.c.rows)
        with self._errors(), self.engine.connect() as conn:
            got = conn.execute(query.order_by(imports.c.id)).all()
        return [dict(zip(("id", "path", "imported", "rows"), r, strict=True)) for r in got]

    def import_ids(self) -> dict[str, int | None]:
        """Published row id -> the import it came from."""
        query = sa.select(results.c.id, results.c.import_id).where(results.c.source == "published")
        with self._errors(), self.engine.connect() as conn:
            return {rid: iid for rid, iid in conn.execute(query).all()}


# ---------------------------------------------------------------- rebuild and the hook


def rebuild(
    workspace: Workspace, path: str | os.PathLike[str] | None = None
) -> tuple[Path | str, int, int]:
    """Recreate the database from the workspace's run records, keeping the published rows
    of a readable old file. The new file replaces the old one at once (atomic rename).
    On a server (shared by other workspaces) the workspace's runs are indexed again, in
    one transaction, and nothing else is touched. Returns (file or URL, local rows,
    published rows kept)."""
    target = ResultsDB.target_for(path if path is not None else workspace)
    if target.path is None:
        with ResultsDB.open(target) as shared:
            records = workspace.records()
            shared.add_records(records)
            return target.shown, len(records), len(shared.import_ids())
    file = target.path
    published: list[dict[str, Any]] = []
    old_imports: list[dict[str, Any]] = []
    import_ids: dict[str, int | None] = {}
    records, unreadable = workspace.scan()
    broken = {p.parent.name for p, _ in unreadable}  # their old rows are kept
    kept: list[dict[str, Any]] = []
    if file.exists():
        try:
            with ResultsDB.open(target, create=False) as old:
                published, old_imports, import_ids = (
                    old.rows(source="published"),
                    old.imports(),
                    old.import_ids(),
                )
                kept = [r for r in old.rows(source="local") if r["run_id"] in broken]
        except ResultsDBError:
            published, old_imports, import_ids, kept = [], [], {}, []  # unreadable: start over
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with ResultsDB.open(tmp) as new, new.transaction() as conn:
            if old_imports:
                conn.execute(sa.insert(imports), old_imports)
            for row in published:  # each with the import it came from
                new._put(conn, [row], import_ids.get(row["id"]))
            if kept:
                new._put(conn, kept)
            new._put(conn, [record_row(record) for record in records])
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    return file, len(records) + len(kept), len(published)


def _index(workspace: Workspace, record: RunRecord, target: Target, named: bool) -> None:
    """Add one run record to the database. run.json is the source of truth and is written
    already: an unreachable database, or a failing one the user named (--db,
    PERFPILOT_DB), stops the command with one line ('results sync' catches up later); a
    damaged workspace file only warns ('results rebuild' catches up)."""
    try:
        with ResultsDB.open(target) as db:
            db.add_record(record)
    except Exception as err:  # the run is safe in run.json whatever failed
        text = err.one_line() if isinstance(err, PerfpilotError) else f"{err}"
        saved = Path(record.run_dir) / "run.json"
        if isinstance(err, PerfpilotError) and (named or isinstance(err, DatabaseUnreachable)):
            kind = DatabaseUnreachable if isinstance(err, DatabaseUnreachable) else ResultsDBError
            raise kind(
                f"run {record.run_id} is recorded in {saved} but not in the results "
                f"database: {err.message}",
                err.hint or "Run 'perfpilot results sync' once the database works again.",
            ) from err
        print(
            f"perfpilot: warning: run {record.run_id} is recorded in run.json but not in "
            f"the results database ({text})",
            file=sys.stderr,
        )


def index_record(workspace: Workspace, record: RunRecord) -> None:
    """The ``on_record`` hook that indexes runs in the workspace's own database file."""
    _index(workspace, record, ResultsDB.target_for(workspace), named=False)


def indexer(db: str | os.PathLike[str] | None) -> RecordHook:
    """The ``on_record`` hook of the commands that run tests: index each run in ``db``
    (``--db`` or ``$PERFPILOT_DB``), or in the workspace's file when it is ``None``."""
    if db is None:
        return index_record
    target = ResultsDB.target_for(db)

    def hook(workspace: Workspace, record: RunRecord) -> None:
        _index(workspace, record, target, named=True)

    return hook
