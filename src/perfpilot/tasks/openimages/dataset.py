"""The OpenImages v6 MLPerf subset for RetinaNet: the reference preprocessing and
post-processing, a dataset read from a user's folder, and a synthetic folder of the same
layout for machines without the real one.

Layout (as the reference's ``openimages_mlperf.sh`` writes it)::

    DIR/annotations/openimages-mlperf.json   COCO-format images, annotations, categories
    DIR/validation/data/<file_name>          the JPEG images

Preprocessing (reference ``pre_process_openimages_retinanet``): float32, grey -> RGB,
BGR -> RGB, resize to 800 x 800 with ``INTER_LINEAR``, divide by 255, CHW.
Post-processing (reference ``PostProcessOpenImagesRetinanet(False, 0.05, 800, 800)``): the
model's boxes are ``xmin, ymin, xmax, ymax`` in 800 x 800 pixels; each detection scoring at
least 0.05 (scores come sorted; the first below the threshold ends the list) becomes seven
float32 ``image_idx, ymin, xmin, ymax, xmax, score, label`` with coordinates divided by 800.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import atomic_write_bytes, atomic_write_text, cache_dir
from perfpilot.errors import UsageError
from perfpilot.safepaths import listed_path
from perfpilot.tasks.common.fingerprint import folder_fingerprint
from perfpilot.tasks.common.images import cached_arrays, opencv
from perfpilot.userfiles import load_json

PREPROCESS_SPEC = "openimages-retinanet/rgb/resize-800x800-inter-linear/div-255/nchw/v1"
ANNOTATIONS = Path("annotations") / "openimages-mlperf.json"
IMAGES = Path("validation") / "data"
SIZE = 800
SCORE_THRESHOLD = 0.05
QSL_SIZE = 64  # the reference's performance sample count for retinanet


def preprocess_retinanet(img_bgr: np.ndarray, size: int = SIZE) -> np.ndarray:
    """One decoded BGR (or grey) image -> 3 x size x size float32 in [0, 1], as the reference."""
    cv2 = opencv()
    img = np.asarray(img_bgr, dtype=np.float32)
    if img.ndim < 3 or img.shape[2] != 3:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    img /= 255.0
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def postprocess_retinanet(
    index: int,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    height: int = SIZE,
    width: int = SIZE,
    threshold: float = SCORE_THRESHOLD,
) -> np.ndarray:
    """One image's detections -> the flat float32 response the accuracy script reads."""
    rows = []
    for box, label, score in zip(
        np.asarray(boxes).reshape(-1, 4),
        np.asarray(labels).ravel(),
        np.asarray(scores).ravel(),
        strict=True,
    ):
        if score < threshold:
            break
        xmin, ymin, xmax, ymax = (float(v) for v in box)
        rows.append(
            (float(index), ymin / height, xmin / width, ymax / height, xmax / width, score, label)
        )
    return np.asarray(rows, dtype=np.float32).reshape(-1)


def read_annotations(folder: Path) -> dict[str, Any]:
    """The COCO-format annotation file of an OpenImages MLPerf folder, checked."""
    if not folder.is_dir():
        raise UsageError(f"dataset folder not found: {folder}", "Check --dataset-path.")
    path = folder / ANNOTATIONS
    if not path.is_file():
        raise UsageError(
            f"dataset folder {folder} has no {ANNOTATIONS}",
            "Point --dataset-path at the folder the reference's openimages_mlperf.sh wrote "
            "(annotations/ and validation/data/ inside).",
        )
    data: dict[str, Any] = load_json(path, "annotations file", hint="Re-create the file.")
    if not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise UsageError(
            f"{path} is not COCO-format (needs 'images', 'annotations' and 'categories' lists)",
            "Re-create it with the reference's openimages_mlperf.sh.",
        )
    if not data["images"]:
        raise UsageError(f"{path} lists no images", "Re-create the annotation file.")
    for number, image in enumerate(data["images"]):
        if not all(k in image for k in ("id", "file_name", "height", "width")):
            raise UsageError(
                f"{path}: image entry {number} lacks id, file_name, height or width",
                "Re-create the annotation file.",
            )
    return data


class OpenImagesDataset:
    """The first ``size`` images of an OpenImages MLPerf folder, preprocessed once and cached
    under a key of (dataset identity, preprocessing spec). The QSL index of an image is its
    position in the annotation file's ``images`` list, as the accuracy script assumes."""

    name = "openimages-v6-mlperf"

    def __init__(self, folder: Path, size: int | None = None) -> None:
        self.folder = folder.expanduser().absolute()
        self.annotations = read_annotations(self.folder)
        images = list(self.annotations["images"])
        if size is not None:
            if size < 1:
                raise UsageError(f"invalid dataset size {size}: must be at least 1")
            images = images[:size]
        self.images = images
        for number, image in enumerate(images):
            name = str(image["file_name"])
            where = f"images[{number}]"
            path = listed_path(self.folder / IMAGES, name, self.folder / ANNOTATIONS, where)
            if not path.is_file():
                raise UsageError(
                    f"image listed in {ANNOTATIONS} not found: {path}",
                    "Check that the dataset folder is complete (the accuracy script needs "
                    "every listed image in order).",
                )
        self.total_count = len(images)
        self.performance_count = min(self.total_count, QSL_SIZE)
        self._sha = self._identity()
        self._data: np.ndarray | None = None

    @property
    def annotations_path(self) -> Path:
        return self.folder / ANNOTATIONS

    def _identity(self) -> str:
        return folder_fingerprint(
            "openimages-mlperf-v1",
            self.annotations_path,
            (
                (str(image["file_name"]), self.folder / IMAGES / str(image["file_name"]))
                for image in self.images
            ),
        )

    def sha256(self) -> str:
        return self._sha

    def labels(self) -> np.ndarray:
        """Image ids in QSL order (the ground truth itself is the annotation file)."""
        return np.array([int(image["id"]) for image in self.images], dtype=np.int64)

    def cache_path(self) -> Path:
        key = hashlib.sha256(f"{self._sha}\0{PREPROCESS_SPEC}".encode()).hexdigest()[:32]
        return cache_dir() / "preprocessed" / "openimages" / key

    def preprocessed(self) -> np.ndarray:
        """All samples, preprocessed (read from the cache when it is complete)."""
        if self._data is None:
            self._data = cached_arrays(
                self.cache_path(),
                {"dataset_sha256": self._sha, "spec": PREPROCESS_SPEC, "folder": str(self.folder)},
                (self.total_count, 3, SIZE, SIZE),
                self._load_one,
            )
        return self._data

    def _load_one(self, i: int) -> np.ndarray:
        path = self.folder / IMAGES / str(self.images[i]["file_name"])
        img = opencv().imread(str(path))
        if img is None:
            raise UsageError(
                f"image failed to decode: {path}",
                "Replace the file (the accuracy script needs every listed image).",
            )
        return preprocess_retinanet(img)

    def samples(self, indices: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.ascontiguousarray(self.preprocessed()[np.asarray(indices)])
        return out


def make_synthetic_openimages(
    folder: Path, count: int = 8, seed: int = 0, categories: int = 264
) -> Path:
    """Write ``count`` JPEG images with random boxes drawn on them and their COCO-format
    annotation file, in the MLPerf OpenImages layout. The content means nothing: it exists
    to run the retinanet pipeline (and its mAP script) without the real dataset."""
    cv2 = opencv()
    rng = np.random.default_rng(seed)
    (folder / IMAGES).mkdir(parents=True, exist_ok=True)
    (folder / ANNOTATIONS).parent.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(count):
        h, w = int(rng.integers(300, 700)), int(rng.integers(300, 700))
        img = np.full((h, w, 3), 96, dtype=np.uint8)
        name = f"{hashlib.sha256(f'{seed}-{i}'.encode()).hexdigest()[:16]}.jpg"
        for _ in range(int(rng.integers(1, 4))):
            bw, bh = int(rng.integers(30, w // 2)), int(rng.integers(30, h // 2))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.rectangle(img, (x, y), (x + bw, y + bh), colour, thickness=-1)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": int(rng.integers(1, categories + 1)),
                    "bbox": [float(x), float(y), float(bw), float(bh)],
                    "area": float(bw * bh),
                    "iscrowd": 0,
                }
            )
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise UsageError(f"could not encode synthetic image {name}")
        atomic_write_bytes(folder / IMAGES / name, data.tobytes())
        images.append({"id": i + 1, "file_name": name, "height": h, "width": w})
    doc = {
        "info": {"description": "perfpilot synthetic OpenImages-MLPerf-style set"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": f"class-{c}"} for c in range(1, categories + 1)],
    }
    atomic_write_text(folder / ANNOTATIONS, json.dumps(doc) + "\n")
    return folder
