"""Package a checked submission tree as ``<name>.tar.gz`` plus ``<name>.tar.gz.sha256``.

The check runs first; a tree with errors is refused (nothing is written). The archive
holds the division folders (and root .md/.pdf files) under the tree's folder name, with
stable order and metadata, and appears only when complete (temp file + rename).
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from perfpilot.artifacts.files import atomic_write_text, sha256_file
from perfpilot.errors import PerfpilotError
from perfpilot.safepaths import walk
from perfpilot.submission.check import CheckReport, check_tree


class PackageRefused(PerfpilotError):
    """The tree failed the check, so no package was written (exit code 1)."""

    exit_code = 1


@dataclass(frozen=True)
class PackageResult:
    archive: Path
    sha256_file: Path
    sha256: str
    members: list[str]
    report: CheckReport
    skipped: list[str] = field(default_factory=list)  # special files left out


def _members(root: Path, skipped: list[str]) -> list[Path]:
    """Folders, files and links of the tree in archive order. A link is stored as a link
    (the check refused any that leads out), never read; special files are skipped."""
    out: list[Path] = []
    for level in walk(root):
        links = [s.path for s in level.skipped if s.path.is_symlink()]
        out.extend(level.folder / d for d in level.folders)
        out.extend(sorted([*(level.folder / f for f in level.files), *links]))
        skipped.extend(s.line(root) for s in level.skipped if not s.path.is_symlink())
    return out


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def package_tree(
    root: Path | str,
    out: Path | None = None,
    round_name: str | None = None,
    *,
    relax_lengths: bool = False,
) -> PackageResult:
    """Check the tree at ``root`` and, if it passes, write the archive and its sha256."""
    base = Path(root)
    report = check_tree(base, round_name, relax_lengths=relax_lengths)
    if not report.ok:
        rules = sorted({f.rule for f in report.errors})
        first = report.errors[0]
        raise PackageRefused(
            f"not packaging {base}: the check found {len(report.errors)} error(s) "
            f"({', '.join(rules)}); first: {first.path}: {first.message}",
            f"Run 'perfpilot submission check {base}' and fix what it reports.",
        )
    name = base.resolve().name
    archive = (out or base.resolve().parent / f"{name}.tar.gz").resolve()
    if archive.name.endswith(".tar.gz") is False:
        archive = archive.with_name(archive.name + ".tar.gz")
    if base.resolve() in archive.parents:
        raise PackageRefused(
            f"the package {archive} would be written inside the tree it packages",
            "Choose --out outside the submission folder.",
        )
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".tmp", dir=archive.parent)
    os.close(fd)
    members: list[str] = []
    skipped: list[str] = []
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(base, arcname=name, recursive=False, filter=_reset)
            for path in _members(base, skipped):
                arc = f"{name}/{path.relative_to(base).as_posix()}"
                tar.add(path, arcname=arc, recursive=False, filter=_reset)
                members.append(arc)
        os.chmod(tmp, 0o644)
        os.replace(tmp, archive)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    digest = sha256_file(archive)
    sha_path = archive.with_name(archive.name + ".sha256")
    atomic_write_text(sha_path, f"{digest}  {archive.name}\n")
    return PackageResult(archive, sha_path, digest, members, report, skipped)
