"""ImageNet 2012 validation for ResNet50: the reference preprocessing, a dataset read from
a user's folder (images + ``val_map.txt``), its preprocessed-array cache, and a synthetic
ImageNet-style folder for machines without the real one.

The preprocessing is the MLPerf reference's ``pre_process_vgg`` (vision/classification_
and_detection/python/dataset.py): BGR -> RGB; resize keeping the aspect ratio so that the
short side is ``int(100 * 224 / 87.5)`` = 256 with ``INTER_AREA``; centre crop 224 x 224;
float32; subtract the means [123.68, 116.78, 103.94] (no /255); CHW for ONNX.

Variants, chosen by a model's ``dataset_options`` (see ``tasks.registry.model_task``):
``preprocess="mobilenet"`` is the reference's ``pre_process_mobilenet`` (the same resize
and crop but ``INTER_LINEAR``, then x / 255, - 0.5, x 2: values in [-1, 1]), and
``layout="NHWC"`` stores samples channels-last for graphs such as the TensorFlow ResNet50
(the reference's ``need_transpose`` is false for them). Both are part of the cache key,
so the transpose is paid once per image when the cache is built, never per query.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfpilot.artifacts import atomic_write_bytes, atomic_write_text, cache_dir
from perfpilot.errors import UsageError
from perfpilot.safepaths import listed_path
from perfpilot.tasks.common.images import cached_arrays, opencv
from perfpilot.tasks.imagenet.preprocess_pytorch import SPEC as PYTORCH_SPEC
from perfpilot.tasks.imagenet.preprocess_pytorch import preprocess_pytorch
from perfpilot.userfiles import read_text

PREPROCESS_SPEC = "vgg/resize-short-256-inter-area/crop-224/mean-123.68,116.78,103.94/nchw/v1"
MOBILENET_SPEC = "mobilenet/resize-short-256-inter-linear/crop-224/div-255-sub-0.5-mul-2"
LAYOUTS = ("NCHW", "NHWC")
MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)
OUT = 224
SCALE = 87.5


def resize_with_aspect_ratio(
    img: np.ndarray, out: int = OUT, scale: float = SCALE, interpolation: int | None = None
) -> np.ndarray:
    """Resize so that the short side is ``int(100 * out / scale)``, keeping the ratio
    (``interpolation``: an OpenCV flag, ``INTER_AREA`` by default)."""
    cv2 = opencv()
    if interpolation is None:
        interpolation = cv2.INTER_AREA
    height, width = img.shape[:2]
    new = int(100.0 * out / scale)
    if height > width:
        w, h = new, int(new * height / width)
    else:
        h, w = new, int(new * width / height)
    resized: np.ndarray = cv2.resize(img, (w, h), interpolation=interpolation)
    return resized


def center_crop(img: np.ndarray, out: int = OUT) -> np.ndarray:
    """The reference's centre crop (its integer rounding included)."""
    height, width = img.shape[:2]
    left, right = int((width - out) / 2), int((width + out) / 2)
    top, bottom = int((height - out) / 2), int((height + out) / 2)
    return img[top:bottom, left:right]


def preprocess_vgg(img_bgr: np.ndarray) -> np.ndarray:
    """One decoded BGR image (H x W x 3 uint8) -> 3 x 224 x 224 float32, as the reference."""
    cv2 = opencv()
    rgb = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB)
    img = np.asarray(center_crop(resize_with_aspect_ratio(rgb)), dtype=np.float32)
    img -= MEANS
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def preprocess_mobilenet(img_bgr: np.ndarray) -> np.ndarray:
    """One decoded BGR image -> 3 x 224 x 224 float32 in [-1, 1], as the reference's
    ``pre_process_mobilenet`` (bilinear resize, then (x / 255 - 0.5) * 2)."""
    cv2 = opencv()
    rgb = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB)
    resized = resize_with_aspect_ratio(rgb, interpolation=cv2.INTER_LINEAR)
    img = np.asarray(center_crop(resized), dtype=np.float32)
    img /= 255.0
    img -= 0.5
    img *= 2
    return np.ascontiguousarray(img.transpose(2, 0, 1))


#: ``preprocess`` option -> (function giving a CHW sample, cache spec without the layout).
PREPROCESSORS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "vgg": (preprocess_vgg, PREPROCESS_SPEC.rsplit("/nchw/", 1)[0]),
    "mobilenet": (preprocess_mobilenet, MOBILENET_SPEC),
    "pytorch": (preprocess_pytorch, PYTORCH_SPEC),  # resnet50-pytorch: PIL resize, mean/std
}


@dataclass(frozen=True)
class ImageEntry:
    name: str
    label: int


def read_val_map(folder: Path) -> list[ImageEntry]:
    """The ``<image> <label>`` lines of ``folder/val_map.txt``, in order."""
    path = folder / "val_map.txt"
    if not folder.is_dir():
        raise UsageError(f"dataset folder not found: {folder}", "Check --dataset-path.")
    if not path.is_file():
        raise UsageError(
            f"dataset folder {folder} has no val_map.txt",
            "Put the ImageNet validation list there ('<image> <label>' per line, "
            "e.g. from caffe_ilsvrc12's val.txt).",
        )
    entries = []
    text = read_text(path, "image list", "Fix or regenerate val_map.txt.")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = re.split(r"\s+", line.strip())
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise UsageError(
                f"{path}:{number}: expected '<image> <label>', got {line.strip()[:80]!r}",
                "Fix or regenerate val_map.txt.",
            )
        listed_path(folder, parts[0], path, number)  # never a file outside the folder
        entries.append(ImageEntry(parts[0], int(parts[1])))
    if not entries:
        raise UsageError(f"{path} lists no images", "Fix or regenerate val_map.txt.")
    return entries


def load_image(folder: Path, name: str) -> np.ndarray:
    """Decode one image as BGR uint8, with a clear error when that fails."""
    path = folder / name
    if not path.is_file():
        raise UsageError(
            f"image listed in val_map.txt not found: {path}",
            "Check that the dataset folder is complete.",
        )
    img = opencv().imread(str(path))
    if img is None:
        raise UsageError(
            f"image failed to decode: {path}",
            "Replace the file, or remove its line from val_map.txt.",
        )
    decoded: np.ndarray = img
    return decoded


class ImagenetDataset:
    """The first ``size`` images of a user's ImageNet folder, preprocessed once and cached
    under a key of (dataset identity, preprocessing spec, layout). ``preprocess`` names
    one of :data:`PREPROCESSORS`; ``layout`` is NCHW (samples 3 x 224 x 224) or NHWC
    (224 x 224 x 3)."""

    name = "imagenet2012-val"

    def __init__(
        self,
        folder: Path,
        size: int | None = None,
        *,
        preprocess: str = "vgg",
        layout: str = "NCHW",
    ) -> None:
        if preprocess not in PREPROCESSORS:
            raise UsageError(
                f"unknown ImageNet preprocessing {preprocess!r}",
                f"Choose one of: {', '.join(PREPROCESSORS)}.",
            )
        if layout not in LAYOUTS:
            raise UsageError(
                f"unknown ImageNet layout {layout!r}", f"Choose one of: {', '.join(LAYOUTS)}."
            )
        self.preprocess, self.layout = preprocess, layout
        self.spec = f"{PREPROCESSORS[preprocess][1]}/{layout.lower()}/v1"  # vgg NCHW: as before
        self.folder = folder.expanduser().absolute()
        entries = read_val_map(self.folder)
        if size is not None:
            if size < 1:
                raise UsageError(f"invalid dataset size {size}: must be at least 1")
            entries = entries[:size]
        self.entries = entries
        self.total_count = len(entries)
        self.performance_count = min(self.total_count, 1024)  # the reference's QSL size
        self._labels = np.array([e.label for e in entries], dtype=np.int64)
        self._sha = self._identity()
        self._data: np.ndarray | None = None

    def _identity(self) -> str:
        """Hash of the listed images' names, labels, sizes and contents' first bytes.

        Hashing every byte of 50,000 JPEGs would take minutes at each start; names, sizes
        and the first 64 KiB of each file catch a different or damaged set.
        """
        h = hashlib.sha256(b"imagenet-val-v1\0")
        for e in self.entries:
            path = self.folder / e.name
            h.update(f"{e.name}\0{e.label}\0".encode())
            try:
                h.update(str(path.stat().st_size).encode())
                with open(path, "rb") as fh:
                    h.update(fh.read(65536))
            except OSError:
                h.update(b"missing")
        return h.hexdigest()

    def sha256(self) -> str:
        return self._sha

    def labels(self) -> np.ndarray:
        return self._labels

    def cache_path(self) -> Path:
        key = hashlib.sha256(f"{self._sha}\0{self.spec}".encode()).hexdigest()[:32]
        return cache_dir() / "preprocessed" / "imagenet" / key

    def preprocessed(self) -> np.ndarray:
        """All samples, preprocessed (read from the cache when it is complete)."""
        if self._data is None:
            function = PREPROCESSORS[self.preprocess][0]
            nhwc = self.layout == "NHWC"
            shape = (self.total_count, OUT, OUT, 3) if nhwc else (self.total_count, 3, OUT, OUT)

            def build(i: int) -> np.ndarray:
                chw = function(load_image(self.folder, self.entries[i].name))
                return chw.transpose(1, 2, 0) if nhwc else chw

            self._data = cached_arrays(
                self.cache_path(),
                {"dataset_sha256": self._sha, "spec": self.spec, "folder": str(self.folder)},
                shape,
                build,
            )
        return self._data

    def samples(self, indices: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.ascontiguousarray(self.preprocessed()[np.asarray(indices)])
        return out


def make_synthetic_imagenet(
    folder: Path, count: int = 64, seed: int = 0, classes: int = 1000
) -> Path:
    """Write ``count`` JPEG images of varied sizes and a ``val_map.txt`` into ``folder``.

    The images are smooth random colour fields (so JPEG and resizing do real work) named
    like the real validation set; labels are random in 0..classes-1. Accuracy on them
    means nothing: they exist to run the pipeline end to end without the real dataset.
    """
    cv2 = opencv()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(1, count + 1):
        h, w = int(rng.integers(240, 520)), int(rng.integers(240, 520))
        small = rng.integers(0, 256, size=(max(2, h // 32), max(2, w // 32), 3), dtype=np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise UsageError(f"could not encode synthetic image {name}")
        atomic_write_bytes(folder / name, data.tobytes())
        lines.append(f"{name} {int(rng.integers(0, classes))}")
    atomic_write_text(folder / "val_map.txt", "\n".join(lines) + "\n")
    return folder
