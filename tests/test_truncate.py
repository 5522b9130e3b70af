"""perfpilot submission truncate: official hash line and 4096 + ... + 4096 truncation,
backups beside the tree, idempotence."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from perfpilot.errors import UsageError
from perfpilot.submission.check import check_tree
from perfpilot.submission.truncate import default_backup, truncate_tree
from tests.conftest import FIXTURE, needs_fixture, run_cli

pytestmark = needs_fixture

ACC = Path("closed/Intel/results/1-node-2S-EMR-PyTorch/resnet50/Offline/accuracy")
TEST01 = Path("closed/Intel/compliance/1-node-2S-EMR-PyTorch/resnet50/Server/TEST01/accuracy")


def copy_tree(dst: Path) -> Path:
    shutil.copytree(FIXTURE, dst, symlinks=True)
    for dirpath, dirnames, filenames in os.walk(dst):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


def big_log(n: int = 2000) -> bytes:
    lines = [
        f'{{ "seq_id" : {i}, "qsl_idx" : {i * 7 % 50000}, "data" : "{i:08X}" }}' for i in range(n)
    ]
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode()


@pytest.fixture
def untruncated(tmp_path: Path) -> tuple[Path, bytes]:
    """A fixture copy whose Offline accuracy log is a fresh, full, unhashed one."""
    tree = copy_tree(tmp_path / "tree")
    original = big_log()
    (tree / ACC / "mlperf_log_accuracy.json").write_bytes(original)
    (tree / ACC / "accuracy.txt").write_text("accuracy=75.730%, good=37865, total=50000\n")
    return tree, original


def test_truncates_hashes_and_backs_up(untruncated: tuple[Path, bytes], tmp_path: Path) -> None:
    tree, original = untruncated
    report = truncate_tree(tree)
    assert report.truncated == [ACC.as_posix()]
    log = (tree / ACC / "mlperf_log_accuracy.json").read_bytes()
    assert len(log) == 4096 + 7 + 4096 == 8199
    assert log == original[:4096] + b"\n\n...\n\n" + original[-4096:]
    lines = (tree / ACC / "accuracy.txt").read_text().splitlines()
    assert lines[0] == "accuracy=75.730%, good=37865, total=50000"
    assert lines[-1] == "hash=" + hashlib.sha256(original).hexdigest()
    backup = default_backup(tree)
    assert backup == tmp_path / "tree-accuracy-backup"
    assert (backup / ACC / "mlperf_log_accuracy.json").read_bytes() == original
    assert check_tree(tree, "v4.1").ok


def test_second_run_changes_nothing(untruncated: tuple[Path, bytes]) -> None:
    tree, _ = untruncated
    truncate_tree(tree)
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    again = truncate_tree(tree)
    assert again.truncated == [] and again.problems == []
    assert ACC.as_posix() in again.skipped
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before


def test_existing_backup_is_never_overwritten(untruncated: tuple[Path, bytes]) -> None:
    tree, original = untruncated
    saved = default_backup(tree) / ACC / "mlperf_log_accuracy.json"
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"older backup")
    report = truncate_tree(tree)
    assert report.truncated == []
    assert any("backup already exists" in p for p in report.problems)
    assert saved.read_bytes() == b"older backup"
    assert (tree / ACC / "mlperf_log_accuracy.json").read_bytes() == original


def test_interrupted_pass_is_resumed(untruncated: tuple[Path, bytes]) -> None:
    """Backup and hash line written, then a crash before the log was cut: a rerun finishes."""
    tree, original = untruncated
    saved = default_backup(tree) / ACC / "mlperf_log_accuracy.json"
    saved.parent.mkdir(parents=True)
    saved.write_bytes(original)
    digest = hashlib.sha256(original).hexdigest()
    acc_txt = tree / ACC / "accuracy.txt"
    acc_txt.write_text(acc_txt.read_text() + f"\nhash={digest}\n")
    report = truncate_tree(tree)
    assert report.truncated == [ACC.as_posix()] and report.problems == []
    assert len((tree / ACC / "mlperf_log_accuracy.json").read_bytes()) == 8199
    assert acc_txt.read_text().count("hash=") == 1


def test_small_log_hashed_not_cut_and_test01_gets_accuracy_txt(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "tree")
    small = b'[\n{ "seq_id" : 0, "qsl_idx" : 3, "data" : "01000000" }\n]\n'
    (tree / TEST01 / "mlperf_log_accuracy.json").write_bytes(small)
    (tree / TEST01 / "accuracy.txt").unlink()
    report = truncate_tree(tree, backup=tmp_path / "bk")
    assert report.truncated == [TEST01.as_posix()]
    assert (tree / TEST01 / "mlperf_log_accuracy.json").read_bytes() == small
    text = (tree / TEST01 / "accuracy.txt").read_text()
    assert text == f"hash={hashlib.sha256(small).hexdigest()}\n"
    assert (tmp_path / "bk" / TEST01 / "mlperf_log_accuracy.json").read_bytes() == small


def test_backup_inside_tree_refused(untruncated: tuple[Path, bytes]) -> None:
    tree, original = untruncated
    with pytest.raises(UsageError, match="inside the submission tree"):
        truncate_tree(tree, backup=tree / "closed" / "bk")
    assert (tree / ACC / "mlperf_log_accuracy.json").read_bytes() == original


def test_not_a_tree_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not the root of a submission tree"):
        truncate_tree(tmp_path)


def test_cli_truncate(untruncated: tuple[Path, bytes], tmp_path: Path) -> None:
    tree, _ = untruncated
    bk = tmp_path / "bk"
    proc = run_cli("submission", "truncate", str(tree), "--backup", str(bk))
    assert proc.returncode == 0, proc.stderr
    assert f"truncated {ACC.as_posix()}/mlperf_log_accuracy.json" in proc.stdout
    assert (bk / ACC / "mlperf_log_accuracy.json").is_file()
    proc = run_cli("submission", "truncate", str(tree), "--backup", str(bk))
    assert proc.returncode == 0
    assert not [line for line in proc.stdout.splitlines() if line.startswith("truncated ")]
    assert f"already truncated {ACC.as_posix()}" in proc.stdout
