"""Trees and list files a user (or a stranger) supplies are read without ever leaving
them: no link is followed, no listed name opens a file outside its folder, and what
was left out is said."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from perfpilot.dashboard.build import build_site
from perfpilot.errors import UsageError
from perfpilot.safepaths import listed_path, tree_files, walk
from perfpilot.tune.pareto import pareto_front
from tests.conftest import FIXTURE, needs_fixture, run_cli
from tests.test_dashboard import _row

SECRET = "root:x:0:0:the secret outside the tree\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


def test_walk_lists_plain_entries_and_says_what_it_skipped(tmp_path: Path, secret: Path) -> None:
    root = tmp_path / "tree"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "log.txt").write_text("ok")
    (root / "top.txt").write_text("ok")
    (root / "a" / "to-file").symlink_to(secret)
    (root / "to-dir").symlink_to(secret.parent, target_is_directory=True)
    os.mkfifo(root / "a" / "pipe")
    found = tree_files(root)
    assert [p.relative_to(root).as_posix() for p in found.files] == ["a/b/log.txt", "top.txt"]
    reasons = {s.path.relative_to(root).as_posix(): s.reason for s in found.skipped}
    assert reasons["a/to-file"] == f"symbolic link to {secret}, not followed"
    assert reasons["to-dir"].startswith("symbolic link to ")
    assert "not a plain file" in reasons["a/pipe"]
    assert [level.folder.relative_to(root).as_posix() for level in walk(root)] == [
        ".",
        "a",
        "a/b",
    ]


def test_listed_names_never_leave_their_folder(tmp_path: Path, secret: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "escape").symlink_to(secret.parent, target_is_directory=True)
    listing = folder / "val_map.txt"
    assert listed_path(folder, "img/1.JPEG", listing, 3) == folder / "img" / "1.JPEG"
    for name in (str(secret), "../outside/passwd", "a/../../outside/passwd", "escape/passwd"):
        with pytest.raises(UsageError) as err:
            listed_path(folder, name, listing, 7)
        assert f"{listing}:7: " in err.value.message and "outside the dataset folder" in (
            err.value.message
        )


@pytest.mark.parametrize("name", ["/etc/passwd", "../../../../etc/passwd"])
def test_val_map_lines_outside_the_folder_are_refused_with_their_line(
    tmp_path: Path, name: str
) -> None:
    from perfpilot.tasks.imagenet.dataset import make_synthetic_imagenet, read_val_map

    folder = tmp_path / "imagenet"
    make_synthetic_imagenet(folder, count=3)
    lines = (folder / "val_map.txt").read_text().splitlines()
    lines.insert(1, f"{name} 5")
    (folder / "val_map.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError) as err:
        read_val_map(folder)
    assert err.value.message.startswith(f"{folder / 'val_map.txt'}:2: {name!r} names a file")
    done = run_cli("run", "--model", "resnet50-standin", "--dataset-path", str(folder))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "val_map.txt:2: " in done.stderr


def test_every_list_file_reader_refuses_names_outside(tmp_path: Path) -> None:
    """The siblings of val_map.txt: the LibriSpeech manifest, the KiTS19 index, the
    OpenImages annotations."""
    from perfpilot.tasks.kits19.dataset import INDEX_FILE, make_synthetic_kits19, read_index
    from perfpilot.tasks.librispeech.dataset import (
        MANIFEST,
        make_synthetic_librispeech,
        read_manifest,
    )
    from perfpilot.tasks.openimages.dataset import (
        ANNOTATIONS,
        OpenImagesDataset,
        make_synthetic_openimages,
    )

    speech = tmp_path / "speech"
    make_synthetic_librispeech(speech, count=2)
    manifest = speech / MANIFEST
    entries = json.loads(manifest.read_text())
    entries[1]["files"][0]["fname"] = "/etc/passwd"
    manifest.write_text(json.dumps(entries))
    with pytest.raises(UsageError, match=r":entry 1: '/etc/passwd' names a file outside"):
        read_manifest(speech)

    kits = tmp_path / "kits"
    make_synthetic_kits19(kits, count=2)
    index_path = kits / INDEX_FILE
    index = pickle.loads(index_path.read_bytes())
    bad = "../../../../etc/passwd"
    index["cases"][bad] = index["cases"][index["file_list"][0]]
    index["file_list"][0] = bad
    index_path.write_bytes(pickle.dumps(index))
    with pytest.raises(UsageError, match=r":file_list\[0\]: .* names a file outside"):
        read_index(kits)

    images = tmp_path / "openimages"
    make_synthetic_openimages(images, count=2)
    annotations = json.loads((images / ANNOTATIONS).read_text())
    annotations["images"][0]["file_name"] = "../../../../../etc/passwd"
    (images / ANNOTATIONS).write_text(json.dumps(annotations))
    with pytest.raises(UsageError, match=r":images\[0\]: .* names a file outside"):
        OpenImagesDataset(images)


def test_dashboard_never_publishes_a_file_through_a_link(tmp_path: Path, secret: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "mlperf_log_summary.txt").write_text("Result is : VALID\n")
    (run_dir / "mlperf_log_accuracy.json").symlink_to(secret)
    (run_dir / "logs").symlink_to(secret.parent, target_is_directory=True)
    out = tmp_path / "site"
    report = build_site([_row(run_dir=str(run_dir))], [], out, pareto_front)
    published = [p for p in out.rglob("*") if p.is_file()]
    assert not any(SECRET in p.read_text(errors="replace") for p in published)
    assert any(p.name == "mlperf_log_summary.txt" for p in published)
    assert sorted(line.split(":")[0] for line in report.skipped) == sorted(
        [str(run_dir / "logs"), str(run_dir / "mlperf_log_accuracy.json")]
    )
    page = next((out / "runs").glob("*.html")).read_text()
    assert "Not published: " in page and "mlperf_log_accuracy.json: symbolic link to" in page


def test_a_later_build_removes_what_a_killed_build_left(tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site([_row()], [], out, pareto_front)
    left = [tmp_path / ".site.building-x1y2", tmp_path / ".site.old-123-456"]
    for folder in left:
        (folder / "runs").mkdir(parents=True)
        (folder / "runs" / "page.html").write_text("stale")
    build_site([_row()], [], out, pareto_front)
    assert not any(folder.exists() for folder in left)
    assert (out / "index.html").exists()


@needs_fixture
def test_results_import_reads_nothing_through_a_link(tmp_path: Path, secret: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE, tree, symlinks=True)
    acc = tree / "closed/Intel/results/1-node-2S-EMR-PyTorch/resnet50/Offline/accuracy/accuracy.txt"
    acc.unlink()
    acc.symlink_to(secret)
    user_conf = tree / "closed/Intel/measurements/1-node-2S-EMR-PyTorch/resnet50/Offline/user.conf"
    user_conf.unlink()
    user_conf.symlink_to(secret)
    ws = tmp_path / "ws"
    done = run_cli("--workspace", str(ws), "results", "import", str(tree), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert SECRET.strip() not in done.stdout
    assert f"perfpilot: skipped {acc}: symbolic link to {secret}, not followed" in done.stderr
    assert f"perfpilot: skipped {user_conf}: symbolic link to {secret}" in done.stderr


def test_truncate_never_follows_a_linked_compliance_folder(tmp_path: Path) -> None:
    from perfpilot.submission.truncate import accuracy_dirs

    root = tmp_path / "tree"
    sub = root / "closed" / "Org"
    (sub / "results").mkdir(parents=True)
    outside = tmp_path / "elsewhere" / "model" / "Offline" / "TEST01"
    (outside / "accuracy").mkdir(parents=True)
    (sub / "compliance").mkdir()
    (sub / "compliance" / "box").symlink_to(outside.parents[2], target_is_directory=True)
    real = sub / "compliance" / "box2" / "model" / "Offline" / "TEST01"
    (real / "accuracy").mkdir(parents=True)
    assert accuracy_dirs(root) == [(real / "accuracy", True)]
