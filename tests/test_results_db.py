"""The results database: published import, schema migrations, transactions, bad files;
each against SQLite and a real PostgreSQL server (``db_target``), several writers at once."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from perfpilot.errors import UsageError
from perfpilot.results import published
from perfpilot.results.db import (
    SCHEMA_VERSION,
    DatabaseUnreachable,
    ResultsDB,
    ResultsDBError,
    create_v1,
)
from perfpilot.results.dburl import make_engine, parse
from perfpilot.results.published import find_entries, import_tree, read_accuracy
from perfpilot.results.record_rows import ROW_KEYS
from tests.conftest import FIXTURE, needs_fixture

OFFLINE = "published/v4.1/closed/Intel/1-node-2S-EMR-PyTorch/resnet50/Offline"
SERVER = "published/v4.1/closed/Intel/1-node-2S-EMR-PyTorch/resnet50/Server"


def _snapshot(db: ResultsDB) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return db.rows(), db.imports()


@needs_fixture
def test_import_gives_the_official_checkers_figures(db_target: str) -> None:
    with ResultsDB.open(db_target) as db:
        ids = import_tree(db, FIXTURE)
        assert sorted(ids) == [OFFLINE, SERVER]
        rows = {r["scenario"]: r for r in db.rows(source="published")}
    assert set(rows) == {"Offline", "Server"}
    off, srv = rows["Offline"], rows["Server"]
    assert off["value"] == 25204.5 and off["metric"] == "samples_per_second"
    assert srv["value"] == 22501.8  # completed, not scheduled (22505.8), as the checker
    for row in (off, srv):
        assert set(row) == set(ROW_KEYS)
        assert row["accuracy"] == pytest.approx(75.730)
        assert (row["source"], row["submitter"], row["division"], row["round"]) == (
            "published",
            "Intel",
            "closed",
            "v4.1",
        )
        assert row["system"] == "1-node-2S-EMR-PyTorch" and row["model"] == "resnet50"
        assert row["valid"] is True and row["run_id"] is None and row["standin"] is False
        assert row["backend"] == "PyTorch" and row["device"] == "cpu"
        assert row["provenance"]["loadgen_version"].startswith("4.1")
        assert row["provenance"]["system_description"]["host_processor_core_count"] == "64"
    assert srv["config"]["user_conf"]  # the submitter's user.conf, parsed
    assert srv["p99_ms"] is not None and srv["p99_ms"] < 15.0  # resnet's Server bound


@needs_fixture
def test_reimport_replaces_rows_and_each_layout_level_is_found(db_target: str) -> None:
    with ResultsDB.open(db_target) as db:
        import_tree(db, FIXTURE)
        import_tree(db, FIXTURE / "closed")  # a division folder
        import_tree(db, FIXTURE / "closed" / "Intel")  # a submitter's folder
        assert len(db.rows()) == 2
        assert [i["rows"] for i in db.imports()] == [2, 2, 2]


def test_a_v6_tree_with_lower_case_scenarios_is_read(tmp_path: Path) -> None:
    """The v6.x layout: measurements inside the scenario folder, lower-case names."""
    if not FIXTURE.is_dir():
        pytest.skip("needs the official fixture's logs")
    src = FIXTURE / "closed" / "Intel" / "results" / "1-node-2S-EMR-PyTorch" / "resnet50"
    root = tmp_path / "inference_results_v6.0" / "closed" / "Acme"
    scen = root / "results" / "box" / "resnet50" / "offline"
    shutil.copytree(src / "Offline" / "performance", scen / "performance")
    shutil.copytree(src / "Offline" / "accuracy", scen / "accuracy")
    (scen / "measurements.json").write_text("{}")
    (scen / "user.conf").write_text("resnet50.Offline.target_qps = 1000 # tuned\n")
    (root / "src").mkdir()
    with ResultsDB.open(tmp_path / "r.sqlite") as db:
        (rid,) = import_tree(db, tmp_path / "inference_results_v6.0")
        row = db.get(rid)
    assert row["scenario"] == "Offline" and row["round"] == "v6.0"
    assert row["provenance"]["layout"] == "v6"
    assert row["config"]["user_conf"] == {"resnet50.Offline.target_qps": "1000"}
    assert row["value"] == 25204.5


def test_accuracy_lines_of_several_tasks(tmp_path: Path) -> None:
    cases = {
        "accuracy=75.730%, good=37865, total=50000\nhash=ab\n": 75.73,
        "mAP=37.552%\n": 37.552,
        '{"exact_match": 83.6, "f1": 90.87}\n': 90.87,
        "garbage\n": None,
    }
    for text, expected in cases.items():
        path = tmp_path / "accuracy.txt"
        path.write_text(text)
        assert read_accuracy(path)[0] == expected


def test_a_folder_that_is_not_a_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "closed" / "Acme" / "results" / "box").mkdir(parents=True)  # no logs
    with pytest.raises(UsageError, match="is not an MLPerf submission tree"):
        find_entries(tmp_path)
    with pytest.raises(UsageError, match="is not a folder"):
        find_entries(tmp_path / "nope")


@needs_fixture
@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_an_import_failing_half_way_leaves_the_database_as_it_was(
    db_target: str, monkeypatch: pytest.MonkeyPatch, failure: type[BaseException]
) -> None:
    path = db_target
    with ResultsDB.open(path) as db:
        import_tree(db, FIXTURE)
        before = _snapshot(db)
    real = published.entry_row
    calls: list[int] = []

    def second_fails(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 2:
            raise failure("stopped half-way")
        return real(*args, **kwargs)

    monkeypatch.setattr(published, "entry_row", second_fails)
    with ResultsDB.open(path) as db:
        with pytest.raises(failure):
            import_tree(db, FIXTURE, round_name="v5.0")  # new ids: would add 2 rows
        assert len(calls) == 2  # the rows are read before the transaction: none written
        assert _snapshot(db) == before
    with ResultsDB.open(path) as db:  # and on disk, seen by a new connection
        assert _snapshot(db) == before


def _v1_database(target: str) -> None:
    engine = make_engine(parse(target))
    with engine.begin() as conn:
        _v1_rows(conn)
    engine.dispose()


def _v1_rows(conn: sa.Connection) -> None:
    create_v1(conn)
    keys = [k for k in ROW_KEYS if k not in ("ttft_p99_ms", "tpot_p99_ms")]  # added in v3
    row = {k: None for k in keys}
    row.update(
        id="r1",
        source="local",
        run_id="r1",
        model="digits-cnn",
        scenario="Offline",
        mode="performance",
        status="ok",
        valid=1,
        value=123.0,
        standin=0,
        started="2026-01-02T03:04:05+0100",
        tags=json.dumps({"sweep": "s1", "point": "3"}),
        config="{}",
        provenance="{}",
    )
    conn.execute(
        sa.text(
            f"INSERT INTO results ({', '.join(keys)}) VALUES ({', '.join(':' + k for k in keys)})"
        ),
        row,
    )


def test_a_v1_database_is_migrated_step_by_step(db_target: str) -> None:
    path = db_target
    _v1_database(path)
    with ResultsDB.open(path) as db:
        assert db.schema_version == SCHEMA_VERSION == 3
        assert db.migrations() == [1, 2, 3]
        (row,) = db.rows()
        assert row["value"] == 123.0 and row["valid"] is True
        assert row["tags"] == {"sweep": "s1", "point": "3"}
        assert db.sweeps() == ["s1"]
        assert [r["id"] for r in db.rows(tag="point=3")] == ["r1"]
        assert db.rows(tag="point=4") == []
        # started_utc was filled from the v1 times (02:04:05 UTC)
        assert [r["id"] for r in db.rows(since="2026-01-02T02:04")] == ["r1"]
        assert db.rows(since="2026-01-02T02:05") == []
        assert [r["id"] for r in db.rows(until="2026-01-02")] == ["r1"]
    with ResultsDB.open(path) as db:  # opening again migrates nothing more
        assert db.migrations() == [1, 2, 3]


def test_bad_database_files_give_one_clear_error_and_stay_as_they_were(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database at all " * 200)
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    newer = tmp_path / "newer.sqlite"
    with ResultsDB.open(newer):
        pass
    conn = sqlite3.connect(newer)
    conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
    conn.commit()
    conn.close()
    for path, expected in (
        (garbage, "is not a readable results database"),
        (foreign, "not a perfpilot results database"),
        (newer, "has schema version 99"),
    ):
        before = path.read_bytes()
        with pytest.raises(ResultsDBError, match=expected) as info:
            ResultsDB.open(path)
        assert "\n" not in info.value.one_line()
        assert "rebuild" in info.value.one_line()
        assert path.read_bytes() == before


def test_filters_reject_bad_values(db_target: str) -> None:
    with ResultsDB.open(db_target) as db:
        with pytest.raises(UsageError, match="bad tag filter"):
            db.rows(tag="no-equals-sign")
        with pytest.raises(UsageError, match="bad date 'yesterday' for --since"):
            db.rows(since="yesterday")
        with pytest.raises(UsageError, match="no result 'nope'"):
            db.get("nope")


def test_mlflow_export_without_mlflow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perfpilot.errors import MissingExtraError
    from perfpilot.results.export import to_mlflow

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(MissingExtraError, match="MLflow is not installed") as info:
        to_mlflow([], str(tmp_path / "track"))
    assert "pip install 'perfpilot[mlflow]'" in info.value.one_line()
    assert not (tmp_path / "track").exists()


def test_a_server_database_newer_or_not_ours_is_refused_in_one_line(postgres: Any) -> None:
    newer = postgres.new_database()
    with ResultsDB.open(newer):
        pass
    engine = make_engine(parse(newer))
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version VALUES (99, 'later')"))
    with pytest.raises(ResultsDBError, match="has schema version 99; this perfpilot reads up to 3"):
        ResultsDB.open(newer)
    with engine.connect() as conn:  # untouched
        assert conn.execute(sa.text("SELECT max(version) FROM schema_version")).scalar() == 99
    engine.dispose()

    shared = postgres.new_database()  # another program's tables: ours go beside them
    engine = make_engine(parse(shared))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE inventory (x INTEGER)"))
    with ResultsDB.open(shared) as db:
        assert db.schema_version == SCHEMA_VERSION
    with engine.begin() as conn:  # but a "results" table of someone else's is not ours
        conn.execute(sa.text("DROP TABLE result_tags, schema_version"))
    engine.dispose()
    with pytest.raises(ResultsDBError, match="not a perfpilot results database") as info:
        ResultsDB.open(shared)
    assert "\n" not in info.value.one_line()


def test_an_unreachable_server_is_one_line_with_the_url_and_no_password() -> None:
    pytest.importorskip("psycopg", reason="pip install 'perfpilot[postgres]'")
    from tests.pg import free_port

    url = f"postgresql://ann:s3cret@127.0.0.1:{free_port()}/results"
    with pytest.raises(DatabaseUnreachable) as info:
        ResultsDB.open(url)
    line = info.value.one_line()
    assert "\n" not in line and "s3cret" not in line
    assert f"postgresql://ann:***@127.0.0.1:{url.split(':')[3].split('/')[0]}/results" in line
    assert "Start the PostgreSQL server" in line and info.value.exit_code == 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://ann:s3cret@db/results", "unsupported database URL scheme 'mysql'"),
        ("postgresql+psycopg2://db/x", "unsupported database URL scheme 'postgresql+psycopg2'"),
        ("postgresql://ann:s3cret@db:port/x", "bad database URL 'postgresql://ann:***@db:port/x'"),
        ("sqlite://", "names no SQLite file"),
    ],
)
def test_bad_database_urls_are_refused(url: str, expected: str) -> None:
    from perfpilot.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(expected)) as info:
        parse(url)
    assert "s3cret" not in info.value.one_line() and "postgresql://USER" in info.value.one_line()


_WRITER = """
import sys
from perfpilot.results.db import ResultsDB
from perfpilot.results.record_rows import ROW_KEYS
target, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def row(rid, n):
    return {**{k: None for k in ROW_KEYS}, "id": rid, "source": "local", "run_id": rid,
            "model": "digits-cnn", "scenario": "Offline", "value": float(n), "standin": False,
            "started": "2026-01-02T03:04:%02d" % (n % 60), "tags": {"writer": who, "n": str(n)},
            "config": {}, "provenance": {}}
with ResultsDB.open(target) as db:  # every writer also migrates the fresh database
    for n in range(count):
        db.add_rows([row(f"{who}-{n}", n), row("shared", n)])
"""


def test_several_processes_writing_at_once_lose_nothing(db_target: str) -> None:
    writers, count = 4, 15
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, db_target, f"w{i}", str(count)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    with ResultsDB.open(db_target) as db:
        rows = db.rows()
        assert db.migrations() == [1, 2, 3]  # migrated once, whoever came first
        by_writer = {f"w{i}": db.rows(tag=f"writer=w{i}") for i in range(writers)}
    ids = {r["id"] for r in rows}
    assert ids == {f"w{i}-{n}" for i in range(writers) for n in range(count)} | {"shared"}
    assert len(rows) == writers * count + 1
    for who, mine in by_writer.items():  # each writer's rows with their own tags
        assert {r["id"] for r in mine} - {"shared"} == {f"{who}-{n}" for n in range(count)}
    (shared,) = [r for r in rows if r["id"] == "shared"]
    assert shared["value"] == count - 1  # the last write of some writer, whole
    assert shared["tags"]["n"] == str(count - 1)
