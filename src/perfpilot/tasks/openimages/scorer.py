"""COCO mAP for RetinaNet on the OpenImages MLPerf subset, like the reference's
``accuracy-openimages.py``: de-duplicate by ``qsl_idx``; decode float32 groups of seven
``image_idx, ymin, xmin, ymax, xmax, score, label`` (coordinates normalised to the image);
scale them to the image's size from the annotation file; evaluate with pycocotools over the
images seen (those with no detections included) and print ``mAP=xx.xxx%``."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.errors import UsageError
from perfpilot.tasks.common.accuracy_log import read_accuracy_log
from perfpilot.userfiles import load_json


@dataclass(frozen=True)
class MapResult:
    """mAP in percent (COCO AP@[.5:.95]); ``line()`` is the official last line."""

    map_percent: float
    images: int
    detections: int
    mismatched: int = 0  # records whose payload names another image than LoadGen's index
    summary: str = field(default="", repr=False)  # pycocotools' printed table

    @property
    def accuracy(self) -> float:
        return self.map_percent

    @property
    def good(self) -> int:  # the run record's counts: images scored
        return self.images

    @property
    def total(self) -> int:
        return self.images

    def line(self) -> str:
        return f"mAP={self.map_percent:.3f}%"

    def text(self) -> str:
        """The accuracy.txt body: pycocotools' table, then the mAP line."""
        return f"{self.summary.rstrip()}\n{self.line()}\n" if self.summary else self.line() + "\n"


def _coco() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as err:
        raise UsageError(
            "COCO mAP needs pycocotools, which is not installed",
            "Install it with: pip install 'perfpilot[coco]'",
        ) from err
    return COCO, COCOeval


def detections_from_log(
    path: Path, images: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], set[int], int]:
    """COCO detection dicts, the image ids seen, and the count of index mismatches."""
    detections: list[dict[str, Any]] = []
    image_ids: set[int] = set()
    seen: set[int] = set()
    mismatched = 0
    for record in read_accuracy_log(path):
        idx = int(record["qsl_idx"])  # type: ignore[call-overload]
        if idx in seen:
            continue
        seen.add(idx)
        if idx >= len(images):
            raise UsageError(
                f"{path}: qsl_idx {idx} is beyond the {len(images)} images of the annotations",
                "Score with the annotation file the run used.",
            )
        image = images[idx]
        image_ids.add(int(image["id"]))
        data = np.frombuffer(bytes.fromhex(str(record["data"])), dtype=np.float32)
        if len(data) % 7:
            raise UsageError(
                f"{path}: response of qsl_idx {idx} has {len(data)} floats, not groups of 7",
                "The model's post-processing is not retinanet's; check --model-path.",
            )
        height, width = float(image["height"]), float(image["width"])
        for row in data.reshape(-1, 7):
            image_idx, ymin, xmin, ymax, xmax, score, label = (float(v) for v in row)
            if int(image_idx) != idx:
                mismatched += 1
            xmin, xmax, ymin, ymax = xmin * width, xmax * width, ymin * height, ymax * height
            detections.append(
                {
                    "image_id": int(image["id"]),
                    "category_id": int(label),
                    "bbox": [xmin, ymin, xmax - xmin, ymax - ymin],
                    "score": score,
                }
            )
    return detections, image_ids, mismatched


def score_map(log_path: Path, annotations_path: Path) -> MapResult:
    """Score a RetinaNet accuracy log against a COCO-format annotation file."""
    COCO, COCOeval = _coco()
    annotations = load_json(annotations_path, "annotations file")
    detections, image_ids, mismatched = detections_from_log(log_path, annotations["images"])
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        truth = COCO()
        truth.dataset = annotations
        truth.createIndex()
        if not detections:
            return MapResult(0.0, len(image_ids), 0, mismatched, "")
        results = truth.loadRes(detections)
        evaluator = COCOeval(truth, results, iouType="bbox")
        evaluator.params.imgIds = sorted(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        evaluator.summarize()
    stat = float(evaluator.stats[0])
    value = 100.0 * max(stat, 0.0)  # pycocotools gives -1 when no ground truth matches
    return MapResult(value, len(image_ids), len(detections), mismatched, table.getvalue())


def score_dataset(log: Path, dataset: Any) -> Any:
    """The task scorer: COCO mAP against the dataset's annotations file."""
    return score_map(log, dataset.annotations_path)
