"""What travels between the submitter and the nodes: artifacts by checksum (a node uses
its own cache when it holds the file; otherwise the submitter's copy arrives once through
Ray's object store and is verified), and run directories coming back as tar archives."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from perfpilot.artifacts import cache_dir, file_lock, sha256_file
from perfpilot.errors import ChecksumError

#: The file that marks a derived artifact's folder as complete (artifacts/derived.py).
_ENTRY_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Bundle:
    """An artifact as the submitter's cache holds it: the model file's path relative to
    the cache and its sha256, and the files (relative to the cache) that make it count
    there (the file, and its manifest)."""

    relative: str
    sha256: str
    files: tuple[str, ...]


def bundle_for(path: Path, sha256: str, cache: Path | None = None) -> Bundle | None:
    """The bundle of a model file in the artifact cache; None for a file outside it (the
    user's own file, which must then be on every node at the same path)."""
    root = (cache or cache_dir()).absolute()
    try:
        rel = path.absolute().relative_to(root)
    except ValueError:
        return None
    if path.is_dir():
        return None  # model folders (LLMs) are fetched by each node from the mirrors
    if rel.parts[:2] == ("store", "objects"):
        manifests = root / "store" / "manifests"
        named = [
            str(m.relative_to(root))
            for m in sorted(manifests.glob("*.json"))
            if sha256 in m.read_text()
        ]
        return Bundle(str(rel), sha256, (str(rel), *named))
    folder = path.parent
    while folder != root and not (folder / _ENTRY_MANIFEST).is_file():
        folder = folder.parent
    if folder == root:
        return Bundle(str(rel), sha256, (str(rel),))
    files = [
        str(f.relative_to(root))
        for f in sorted(folder.rglob("*"))
        if f.is_file() and not any(p.startswith(".") for p in f.relative_to(folder).parts)
    ]
    return Bundle(str(rel), sha256, tuple(files))


def pack(root: Path, files: tuple[str, ...] | list[str]) -> bytes:
    """An uncompressed tar of ``files`` (relative to ``root``): model files and LoadGen
    logs compress little, and the archive lives in memory only."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in files:
            tar.add(root / rel, arcname=rel, recursive=False)
    return buf.getvalue()


def held(bundle: Bundle, cache: Path | None = None) -> bool:
    """Whether this node's cache holds the artifact with the bundle's checksum."""
    path = (cache or cache_dir()) / bundle.relative
    try:
        return path.is_file() and sha256_file(path) == bundle.sha256
    except OSError:
        return False


def place(bundle: Bundle, data: bytes, cache: Path | None = None) -> Path:
    """Put a shipped bundle into this node's cache: unpacked beside its place, the model
    file checked against its sha256, then each file moved in (the manifests last, so the
    entry counts only once complete). Nothing is kept on a mismatch."""
    root = cache or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / "locks" / "cluster-ship.lock"):
        if held(bundle, root):  # another trial on this node placed it meanwhile
            return root / bundle.relative
        tmp = Path(tempfile.mkdtemp(prefix=".shipped-", dir=root))
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
                tar.extractall(tmp, filter="data")
            got = sha256_file(tmp / bundle.relative)
            if got != bundle.sha256:
                raise ChecksumError(
                    f"the artifact {bundle.relative} arrived with sha256 {got}, "
                    f"expected {bundle.sha256}",
                    "Nothing was stored on the node; run again (the copy is sent again).",
                )
            order = sorted(bundle.files, key=lambda f: f.endswith(".json"))  # manifests last
            for rel in order:
                target = root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / rel, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root / bundle.relative


def unpack_run(data: bytes, target: Path, skip: str) -> None:
    """Unpack a run directory's archive into the new folder ``target`` (made here, beside
    it first, then renamed: never half there), without the file ``skip`` (run.json,
    written last by the caller)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            members = [m for m in tar.getmembers() if m.name != skip]
            tar.extractall(tmp, members=members, filter="data")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
