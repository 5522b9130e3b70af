"""perfpilot submission package: refuses a failing tree, packages a passing one."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from perfpilot.submission.package import PackageRefused, package_tree
from tests.conftest import FIXTURE, needs_fixture, run_cli

pytestmark = needs_fixture


def copy_tree(dst: Path) -> Path:
    shutil.copytree(FIXTURE, dst, symlinks=True)
    for dirpath, dirnames, filenames in os.walk(dst):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


def test_packages_a_good_tree(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "mysub")
    result = package_tree(tree, round_name="v4.1")
    archive = tmp_path / "mysub.tar.gz"
    assert result.archive == archive and archive.is_file()
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert result.sha256 == digest
    assert (tmp_path / "mysub.tar.gz.sha256").read_text() == f"{digest}  mysub.tar.gz\n"
    with tarfile.open(archive) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    want = {"mysub/" + p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    assert names == want
    assert "mysub/closed/Intel/systems/1-node-2S-EMR-PyTorch.json" in names
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_refuses_a_broken_tree(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "mysub")
    (tree / "closed/Intel/systems/1-node-2S-EMR-PyTorch.json").unlink()
    with pytest.raises(PackageRefused, match="system-json-missing"):
        package_tree(tree, round_name="v4.1")
    assert not (tmp_path / "mysub.tar.gz").exists()
    assert not (tmp_path / "mysub.tar.gz.sha256").exists()


def test_out_inside_the_tree_refused(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "mysub")
    with pytest.raises(PackageRefused, match="inside the tree"):
        package_tree(tree, out=tree / "pkg.tar.gz", round_name="v4.1")


def test_cli_package(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "mysub")
    out = tmp_path / "out" / "intel-v41.tar.gz"
    proc = run_cli("submission", "package", str(tree), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file() and Path(str(out) + ".sha256").is_file()
    assert hashlib.sha256(out.read_bytes()).hexdigest() in proc.stdout
    (
        tree
        / "closed/Intel/results/1-node-2S-EMR-PyTorch/resnet50/Offline/performance/run_1/stray.txt"
    ).write_text("")
    proc = run_cli("submission", "package", str(tree), "--out", str(tmp_path / "again.tar.gz"))
    assert proc.returncode == 1
    assert "not packaging" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "again.tar.gz").exists()
