"""ImageNet reference preprocessing, dataset folder handling and the synthetic folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")

from perfpilot.errors import UsageError  # noqa: E402
from perfpilot.tasks.common.images import cached_arrays  # noqa: E402
from perfpilot.tasks.imagenet.dataset import (  # noqa: E402
    ImagenetDataset,
    make_synthetic_imagenet,
    preprocess_vgg,
    resize_with_aspect_ratio,
)

MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)


def test_square_256_image_is_only_cropped_flipped_and_centred() -> None:
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    out = preprocess_vgg(bgr)
    expected = bgr[16:240, 16:240, ::-1].astype(np.float32) - MEANS  # crop, BGR->RGB, means
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    np.testing.assert_array_equal(out, expected.transpose(2, 0, 1))


def test_halving_with_inter_area_is_the_block_mean() -> None:
    rng = np.random.default_rng(2)
    bgr = rng.integers(0, 256, size=(512, 512, 3), dtype=np.uint8)
    out = preprocess_vgg(bgr)
    blocks = bgr.reshape(256, 2, 256, 2, 3).astype(np.float64).mean(axis=(1, 3))
    expected = (blocks[16:240, 16:240, ::-1] - MEANS).transpose(2, 0, 1)
    np.testing.assert_allclose(out, expected, atol=0.51)  # uint8 rounding of the mean


@pytest.mark.parametrize(
    ("h", "w", "shape"), [(375, 500, (256, 341)), (500, 333, (384, 256)), (300, 300, (256, 256))]
)
def test_short_side_becomes_256_keeping_the_ratio(h: int, w: int, shape: tuple[int, int]) -> None:
    img = np.zeros((h, w, 3), np.uint8)
    assert resize_with_aspect_ratio(img).shape[:2] == shape  # int() truncation as reference


def test_synthetic_folder_runs_through_the_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    folder = make_synthetic_imagenet(tmp_path / "imagenet", count=12, seed=3)
    assert len(list(folder.glob("ILSVRC2012_val_*.JPEG"))) == 12
    data = ImagenetDataset(folder, size=10)
    assert data.total_count == 10 and len(data.labels()) == 10
    batch = data.samples(np.array([0, 9]))
    assert batch.shape == (2, 3, 224, 224) and np.isfinite(batch).all()
    first = preprocess_vgg(cv2.imread(str(folder / data.entries[0].name)))
    np.testing.assert_array_equal(batch[0], first)
    assert (data.cache_path() / "meta.json").exists()  # preprocessed once, then cached
    again = ImagenetDataset(folder, size=10)
    assert again.sha256() == data.sha256()
    np.testing.assert_array_equal(again.samples(np.array([9])), batch[1:])
    assert ImagenetDataset(folder, size=5).sha256() != data.sha256()


def test_folder_without_val_map_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"has no val_map\.txt"):
        ImagenetDataset(tmp_path)


def test_image_that_fails_to_decode_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    folder = make_synthetic_imagenet(tmp_path / "imagenet", count=3, seed=4)
    (folder / "ILSVRC2012_val_00000002.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(UsageError, match=r"image failed to decode: .*00000002\.JPEG"):
        ImagenetDataset(folder).samples(np.array([0]))


def test_bad_val_map_line_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "val_map.txt").write_text("a.JPEG 1\nb.JPEG seven\n")
    with pytest.raises(UsageError, match=r"val_map.txt:2: expected '<image> <label>'"):
        ImagenetDataset(tmp_path)


def test_cache_is_streamed_row_by_row_and_equals_the_rows(tmp_path: Path) -> None:
    """The cache build holds one row in memory, not the whole array (ImageNet's is 30 GB)."""
    import tracemalloc

    shape = (48, 3, 224, 224)  # 28.9 MB of float32

    def build(i: int) -> np.ndarray:
        return np.full(shape[1:], float(i), dtype=np.float32)

    tracemalloc.start()
    try:
        data = cached_arrays(tmp_path / "c", {"spec": "t"}, shape, build)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    row_bytes = 4 * 3 * 224 * 224
    assert peak < 4 * row_bytes, f"peak {peak} bytes: the build held more than a few rows"
    assert data.shape == shape and data.dtype == np.float32
    assert [float(data[i, 0, 0, 0]) for i in (0, 17, 47)] == [0.0, 17.0, 47.0]
    assert json.loads((tmp_path / "c" / "meta.json").read_text())["count"] == 48
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["data.npy", "meta.json"]


def test_failed_cache_build_leaves_nothing_and_the_next_build_completes(tmp_path: Path) -> None:
    folder = tmp_path / "c"

    def broken(i: int) -> np.ndarray:
        if i == 5:
            raise RuntimeError("image 5 is unreadable")
        return np.zeros((2, 3), dtype=np.float32)

    with pytest.raises(RuntimeError, match="image 5"):
        cached_arrays(folder, {}, (8, 2, 3), broken)
    assert list(folder.iterdir()) == []  # no data.npy, no meta.json, no temporary file
    (folder / ".data.npy.99999.tmp").write_bytes(b"left by a killed build")
    data = cached_arrays(folder, {}, (8, 2, 3), lambda i: np.full((2, 3), i, np.float32))
    assert float(data[7, 1, 2]) == 7.0
    assert sorted(p.name for p in folder.iterdir()) == ["data.npy", "meta.json"]
    with pytest.raises(ValueError, match="row 0 has shape"):
        cached_arrays(tmp_path / "d", {}, (2, 2, 3), lambda i: np.zeros((3, 2), np.float32))


def test_cache_larger_than_the_free_disk_is_refused_before_any_work(tmp_path: Path) -> None:
    calls: list[int] = []

    def build(i: int) -> np.ndarray:
        calls.append(i)
        return np.zeros((3, 224, 224), dtype=np.float32)

    with pytest.raises(UsageError, match=r"needs .* GB .* free") as err:
        cached_arrays(tmp_path / "c", {}, (10**9, 3, 224, 224), build)  # 602 PB
    assert "PERFPILOT_CACHE" in (err.value.hint or "")
    assert calls == [] and not (tmp_path / "c" / "data.npy").exists()
