"""``perfpilot cache list`` shows what perfpilot built (not only downloads), and ``cache
rm`` removes stored and built artifacts by name or hash, asking unless ``--yes``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from perfpilot.artifacts import built, derived


def _cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PERFPILOT_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "perfpilot", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def _build(cache: Path, name: str, text: str) -> derived.Derived:
    def write(tmp: Path) -> dict[str, str]:
        (tmp / "model.onnx").write_text(text)
        return {"source": "generated locally by perfpilot"}

    return derived.build_once(cache / "models" / name / "r1", "model.onnx", write, artifact=name)


def test_list_and_rm_built_and_stored(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one = _build(cache, "model-one", "first")
    _build(cache, "model-two", "second")
    (cache / "models" / "model-two" / "r1" / ".build-x").mkdir()  # work in progress: not listed
    stored_file = tmp_path / "weights.bin"
    stored_file.write_bytes(b"weights")
    assert _cli(cache, "cache", "add", str(stored_file), "--as", "weights").returncode == 0

    listed = json.loads(_cli(cache, "cache", "list", "--json").stdout)
    assert [b["artifact"] for b in listed["built"]] == ["model-one", "model-two"]
    assert [s["name"] for s in listed["stored"]] == ["weights"]
    table = _cli(cache, "cache", "list").stdout
    assert "model-one" in table and "built" in table and "no artifacts" not in table

    # not a terminal and no --yes: refused, nothing removed
    asked = _cli(cache, "cache", "rm", "model-one")
    assert asked.returncode == 2 and "Pass --yes" in asked.stderr
    assert one.path.is_file()

    # by hash prefix (built), and by name (stored)
    sha = one.manifest["sha256"]
    gone = _cli(cache, "cache", "rm", sha[:8], "weights", "--yes", "--json")
    assert gone.returncode == 0, gone.stderr
    removed = json.loads(gone.stdout)["removed"]
    assert removed[0] == "weights (stored)" and removed[1].startswith("model-one ")
    assert not one.path.parent.exists()
    assert [b.artifact for b in built.list_built(cache)] == ["model-two"]
    after = json.loads(_cli(cache, "cache", "list", "--json").stdout)
    assert after["stored"] == []
    assert not [p for p in (cache / "store" / "objects").rglob("*") if p.is_file()]

    unknown = _cli(cache, "cache", "rm", "nothing-like-it", "--yes")
    assert unknown.returncode == 2 and "cache list" in unknown.stderr
