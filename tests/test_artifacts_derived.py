"""The one builder of derived artifacts: built once per key, manifest last, nothing half-built."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from perfpilot.artifacts import derived
from perfpilot.artifacts.files import sha256_file, tree_sha256


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _writer(text: str, calls: list[int]) -> derived.Build:
    def build(tmp: Path) -> dict[str, Any]:
        calls.append(1)
        (tmp / "out.txt").write_text(text)
        return {"source": "test"}

    return build


def _build_in_child(folder: str, log: str, started: Any) -> tuple[bool, str]:
    """One process's call: it notes each build in ``log`` and takes a while to build."""

    def build(tmp: Path) -> None:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(1.0)  # long enough for the other process to reach the lock
        (tmp / "out.txt").write_text("made once")

    started.wait(30)
    result = derived.build_once(Path(folder), "out.txt", build, artifact="t", key={"v": 1})
    return result.built, str(result.path)


def test_two_processes_build_one_key_once(tmp_path: Path) -> None:
    folder, log = tmp_path / "entry", tmp_path / "builds.log"
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, as two runs would be
    with ctx.Manager() as manager:
        started = manager.Event()
        with ctx.Pool(2) as pool:
            calls = [
                pool.apply_async(_build_in_child, (str(folder), str(log), started))
                for _ in range(2)
            ]
            started.set()
            results = [c.get(timeout=120) for c in calls]
    assert len(log.read_text().splitlines()) == 1  # one build for both processes
    assert sorted(built for built, _ in results) == [False, True]
    assert {path for _, path in results} == {str(folder / "out.txt")}
    assert (folder / "out.txt").read_text() == "made once"
    assert _entries(folder) == ["manifest.json", "out.txt"]


def test_the_manifest_is_written_last_and_lists_every_file(tmp_path: Path) -> None:
    calls: list[int] = []
    first = derived.build_once(
        tmp_path / "e", "out.txt", _writer("a", calls), artifact="t", key={"recipe": ("x", 2)}
    )
    assert first.built and first.path == tmp_path / "e" / "out.txt"
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert manifest["schema_version"] == derived.SCHEMA_VERSION
    assert (manifest["artifact"], manifest["recipe"], manifest["source"]) == ("t", ["x", 2], "test")
    assert manifest["files"] == {"out.txt": {"size": 1, "sha256": sha256_file(first.path)}}
    assert manifest["sha256"] == sha256_file(first.path) and manifest["created"].endswith("Z")
    again = derived.build_once(
        tmp_path / "e", "out.txt", _writer("b", calls), artifact="t", key={"recipe": ("x", 2)}
    )
    assert not again.built and again.path.read_text() == "a" and calls == [1]
    assert (tmp_path / ".e.lock").is_file()  # beside the entry, not in it
    assert _entries(tmp_path / "e") == ["manifest.json", "out.txt"]  # no build folder left


def test_a_failed_build_leaves_nothing_and_the_next_call_builds(tmp_path: Path) -> None:
    folder = tmp_path / "e"

    def broken(tmp: Path) -> None:
        (tmp / "out.txt").write_text("half")
        raise RuntimeError("the build broke")

    with pytest.raises(RuntimeError, match="the build broke"):
        derived.build_once(folder, "out.txt", broken, artifact="t")
    assert _entries(folder) == []  # no payload, no manifest, no build folder
    assert derived.ready(folder, "out.txt", artifact="t") is None
    calls: list[int] = []
    result = derived.build_once(folder, "out.txt", _writer("whole", calls), artifact="t")
    assert result.built and result.path.read_text() == "whole" and calls == [1]


@pytest.mark.parametrize("version", [0, derived.SCHEMA_VERSION + 1, None])
def test_a_manifest_of_another_schema_version_is_rebuilt(tmp_path: Path, version: Any) -> None:
    calls: list[int] = []
    folder = tmp_path / "e"
    derived.build_once(folder, "out.txt", _writer("a", calls), artifact="t")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["schema_version"] = version
    (folder / "manifest.json").write_text(json.dumps(manifest))
    rebuilt = derived.build_once(folder, "out.txt", _writer("b", calls), artifact="t")
    assert rebuilt.built and rebuilt.path.read_text() == "b" and calls == [1, 1]
    again = json.loads((folder / "manifest.json").read_text())
    assert again["schema_version"] == derived.SCHEMA_VERSION


def test_another_key_or_artifact_or_a_changed_file_is_rebuilt(tmp_path: Path) -> None:
    calls: list[int] = []
    folder = tmp_path / "e"
    derived.build_once(folder, "out.txt", _writer("a", calls), artifact="t", key={"v": 1})
    derived.build_once(folder, "out.txt", _writer("a", calls), artifact="t", key={"v": 2})
    derived.build_once(folder, "out.txt", _writer("a", calls), artifact="u", key={"v": 2})
    assert len(calls) == 3
    (folder / "out.txt").write_text("b")  # same size, other bytes: the hash tells
    derived.build_once(folder, "out.txt", _writer("a", calls), artifact="u", key={"v": 2})
    assert len(calls) == 4 and (folder / "out.txt").read_text() == "a"
    derived.discard(folder)  # stops counting at once
    assert derived.ready(folder, "out.txt", artifact="u") is None
    derived.build_once(folder, "out.txt", _writer("a", calls), artifact="u", key={"v": 2})
    assert len(calls) == 5


def test_without_verify_sizes_are_checked_not_hashes(tmp_path: Path) -> None:
    calls: list[int] = []
    folder = tmp_path / "e"

    def build() -> derived.Derived:
        return derived.build_once(
            folder, "out.txt", _writer("abc", calls), artifact="t", verify=False
        )

    build()
    assert "sha256" not in json.loads((folder / "manifest.json").read_text())
    (folder / "out.txt").write_text("xyz")  # not hashed again: still counts
    assert not build().built
    (folder / "out.txt").write_text("ab")  # truncated: rebuilt
    assert build().built and len(calls) == 2


def test_a_folder_payload_is_hashed_as_a_tree_and_kept_things_survive(tmp_path: Path) -> None:
    folder = tmp_path / "e"
    runs: list[bool] = []

    def build(tmp: Path) -> None:
        records = folder / "records"  # reused by the next build, as TVM's tuning records
        runs.append(records.is_dir())
        records.mkdir(exist_ok=True)
        (tmp / "model" / "variables").mkdir(parents=True)
        (tmp / "model" / "graph.pb").write_bytes(b"graph")
        (tmp / "model" / "variables" / "data").write_bytes(b"weights")
        (tmp / "side.txt").write_text("beside the payload")

    first = derived.build_once(folder, "model", build, artifact="t", keep=("records",))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sha256"] == tree_sha256(first.path)
    assert sorted(manifest["files"]) == ["model/graph.pb", "model/variables/data", "side.txt"]
    (folder / "model" / "variables" / "data").write_bytes(b"WEIGHTS")
    (folder / "stale.tmp").write_text("left by a killed build")
    again = derived.build_once(folder, "model", build, artifact="t", keep=("records",))
    assert again.built and runs == [False, True]
    assert (again.path / "variables" / "data").read_bytes() == b"weights"
    assert _entries(folder) == ["manifest.json", "model", "records", "side.txt"]


def test_keys_and_reports_may_not_use_the_builders_fields(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keeps for itself"):
        derived.build_once(
            tmp_path / "e", "out.txt", _writer("a", []), artifact="t", key={"size": 1}
        )

    def reports_sha(tmp: Path) -> dict[str, str]:
        (tmp / "out.txt").write_text("a")
        return {"sha256": "0"}

    with pytest.raises(ValueError, match="keeps for itself"):
        derived.build_once(tmp_path / "e", "out.txt", reports_sha, artifact="t")
    assert _entries(tmp_path / "e") == []
    with pytest.raises(RuntimeError, match=r"made no out\.txt"):
        derived.build_once(tmp_path / "e", "out.txt", lambda tmp: None, artifact="t")
