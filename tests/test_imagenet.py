"""ImageNet reference preprocessing, dataset folder handling and the synthetic folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")

from perfpilot.catalog.imagenet import (  # noqa: E402
    ImagenetDataset,
    make_synthetic_imagenet,
    preprocess_vgg,
    resize_with_aspect_ratio,
)
from perfpilot.errors import UsageError  # noqa: E402

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
