"""Accuracy-log truncation with the official semantics (``truncate_accuracy_log.py``).

For every ``accuracy/`` folder of a result (and of its TEST01 compliance test): skip it
when ``accuracy.txt`` already has a ``hash=`` line and the log is under 10 KiB; otherwise
copy the log to the backup tree (same relative path; a different existing backup is
never overwritten, an identical one means an interrupted pass, which is resumed), append
``hash=<sha256 of the whole log>`` to ``accuracy.txt`` (created for TEST01 when absent)
and, if the log has >= 4096 bytes, keep its first and last 4096 bytes around
``\\n\\n...\\n\\n``. Running it twice changes nothing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from perfpilot.artifacts.files import atomic_write_bytes, sha256_file
from perfpilot.errors import UsageError
from perfpilot.submission.tree import DIVISIONS, HASH_LINE, is_dir, is_file, subdirs

VIEWABLE = 4096
MAX_LOG_BYTES = 10 * 1024
ELLIPSIS = b"\n\n...\n\n"
LOG_NAME = "mlperf_log_accuracy.json"


@dataclass
class TruncateReport:
    """What a truncation pass did, folder by folder (paths relative to the tree root)."""

    truncated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already hashed and small
    problems: list[str] = field(default_factory=list)
    backup: Path | None = None


def default_backup(root: Path) -> Path:
    """Backups go beside the tree, never inside it (the checker would reject them)."""
    root = root.resolve()
    return root.parent / f"{root.name}-accuracy-backup"


def accuracy_dirs(root: Path) -> list[tuple[Path, bool]]:
    """(accuracy folder, is a compliance test) pairs of every result, both layouts."""
    out: list[tuple[Path, bool]] = []
    for division in subdirs(root):
        if division.name not in DIVISIONS:
            continue
        for sub in subdirs(division):
            for system in subdirs(sub / "results"):
                for model in subdirs(system):
                    for scen in subdirs(model):
                        out.append((scen / "accuracy", False))
                        out.extend(
                            (test / "accuracy", True)
                            for test in subdirs(scen)
                            if test.name == "TEST01"
                        )
            # compliance/<system>/<model>/<scenario>/TEST01, never through a link
            for system in subdirs(sub / "compliance"):
                for model in subdirs(system):
                    for scen in subdirs(model):
                        if is_dir(scen / "TEST01"):
                            out.append((scen / "TEST01" / "accuracy", True))
    return out


def hash_line(acc_txt: Path) -> str | None:
    """The value of the (last) ``hash=`` line of an accuracy.txt, if any."""
    if not is_file(acc_txt):
        return None
    found = None
    for line in acc_txt.read_text(errors="replace").splitlines():
        match = HASH_LINE.match(line)
        if match:
            found = match.group(1)
    return found


def truncated_bytes(data: bytes) -> bytes:
    """The official truncated form: first 4096 bytes, ``\\n\\n...\\n\\n``, last 4096."""
    if len(data) < VIEWABLE:
        return data
    return data[:VIEWABLE] + ELLIPSIS + data[-VIEWABLE:]


def truncate_tree(root: Path | str, backup: Path | None = None) -> TruncateReport:
    """Truncate every accuracy log of the tree at ``root`` (see the module docstring)."""
    base = Path(root)
    if not is_dir(base) or not any(is_dir(base / d) for d in DIVISIONS):
        raise UsageError(
            f"{base} is not the root of a submission tree (no closed/, open/ or network/)",
            "Give the folder that holds the division folders.",
        )
    backup_root = (backup or default_backup(base)).resolve()
    if backup_root == base.resolve() or base.resolve() in backup_root.parents:
        raise UsageError(
            f"the backup folder {backup_root} is inside the submission tree",
            "Choose a --backup folder outside it (the checker rejects extra files).",
        )
    report = TruncateReport(backup=backup_root)
    for acc_dir, is_test in accuracy_dirs(base):
        rel = acc_dir.relative_to(base).as_posix()
        log = acc_dir / LOG_NAME
        acc_txt = acc_dir / "accuracy.txt"
        if not is_file(log):
            report.problems.append(f"{rel}/{LOG_NAME} is missing")
            continue
        if not is_file(acc_txt) and not is_test:
            report.problems.append(f"{rel}/accuracy.txt is missing: run the accuracy script first")
            continue
        if hash_line(acc_txt) and log.stat().st_size < MAX_LOG_BYTES:
            report.skipped.append(rel)
            continue
        saved = backup_root / acc_dir.relative_to(base) / LOG_NAME
        digest = sha256_file(log)
        if saved.exists() and sha256_file(saved) != digest:
            report.problems.append(
                f"{rel}: not processed, a different backup already exists at {saved} "
                "(move it away to truncate again)"
            )
            continue
        if not saved.exists():  # an identical backup: a pass that was interrupted, resume it
            saved.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(log, saved)
        if hash_line(acc_txt) != digest:
            # Appended after a blank line as the official tool does; a new file gets the line.
            old = acc_txt.read_bytes() + b"\n" if is_file(acc_txt) else b""
            atomic_write_bytes(acc_txt, old + f"hash={digest}\n".encode())
        data = log.read_bytes()
        if len(data) >= VIEWABLE:
            atomic_write_bytes(log, truncated_bytes(data))
        report.truncated.append(rel)
    return report
