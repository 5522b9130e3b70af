"""The cache of models perfpilot generates itself (the trained digits-cnn, the stand-ins):
each built once per recipe through the artifacts' derived builder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from perfpilot.artifacts import cache_dir
from perfpilot.artifacts.derived import build_once


def ensure_built(
    name: str, recipe: str, build: Callable[[], bytes], filename: str = "model.onnx"
) -> Path:
    """Build a generated model once into the cache (``filename``: its suffix tells the
    backends its format); a manifest (written last) holds its hash, and a file that no
    longer matches it is rebuilt."""

    def write(tmp: Path) -> dict[str, str]:
        (tmp / filename).write_bytes(build())
        return {"source": "generated locally by perfpilot"}

    folder = cache_dir() / "models" / name / recipe.replace("/", "-")
    return build_once(folder, filename, write, artifact=name, key={"recipe": recipe}).path
