"""RetinaNet on the engine: one image at a time (the official ONNX has batch 1), and
each image's detections as its response."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from perfpilot.tasks.adapter import Runtime, TaskAdapter, Wrapper
from perfpilot.tasks.openimages.dataset import postprocess_retinanet


class Detections(Wrapper):
    """Runs a detection model one image at a time, as the official RetinaNet ONNX needs
    (batch 1; outputs ``boxes`` [K, 4], ``labels`` [K], ``scores`` [K] without a batch
    axis). ``predict`` returns one ``(boxes, labels, scores)`` per image, which
    :func:`retinanet_responses` turns into the ragged per-sample responses."""

    def __init__(self, inner: Runtime, input_name: str | None = None) -> None:
        super().__init__(inner)
        self.input_name = input_name

    def load(self, model_path: Any) -> None:
        if self.input_name is None and model_path is not None:
            import onnx  # the export names no input: read the graph's first real input

            graph = onnx.load(str(model_path), load_external_data=False).graph
            weights = {t.name for t in graph.initializer}
            self.input_name = next(i.name for i in graph.input if i.name not in weights)
        self.inner.load(model_path)

    def predict(self, batch: np.ndarray) -> Any:
        assert self.input_name is not None, "load() names the input"
        found = []
        for i in range(len(batch)):
            outputs = self.inner.predict_named({self.input_name: batch[i : i + 1]})
            found.append(_detection_outputs(outputs))
        return found


def _detection_outputs(outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """(boxes, labels, scores) from a detector's outputs, whatever their order: boxes are
    the [K, 4] array, scores the float vector, labels the other one (the export writes
    boxes, scores, labels; the reference profile lists boxes, labels, scores)."""
    arrays = [np.asarray(o) for o in outputs]
    if len(arrays) != 3:
        raise ValueError(f"a detector must return boxes, labels and scores, got {len(arrays)}")
    arrays = [a[0] if a.ndim > 1 and a.shape[0] == 1 and a.ndim != 2 else a for a in arrays]
    boxes = next((a for a in arrays if a.ndim == 2 and a.shape[-1] == 4), None)
    rest = [a for a in arrays if a is not boxes]
    if boxes is None or len(rest) != 2:
        raise ValueError("a detector's outputs must include boxes of shape [K, 4]")
    floats = [a for a in rest if np.issubdtype(a.dtype, np.floating)]
    scores = floats[-1] if len(floats) == 1 else rest[1]
    labels = rest[0] if scores is rest[1] else rest[1]
    return boxes, labels, scores


def retinanet_responses(
    outputs: Sequence[tuple[np.ndarray, ...]], idx: np.ndarray
) -> list[np.ndarray]:
    """Per-image responses: float32 groups of seven (image_idx, ymin, xmin, ymax, xmax,
    score, label), as the reference's ``PostProcessOpenImagesRetinanet``."""
    return [
        postprocess_retinanet(int(i), boxes, labels, scores)
        for i, (boxes, labels, scores) in zip(idx, outputs, strict=True)
    ]


class DetectionAdapter(TaskAdapter):
    """OpenImages: detections of each image, of their own sizes."""

    ragged = True

    def wrap(self, runtime: Runtime) -> Runtime:
        if not runtime.needs_model:
            return runtime
        return Detections(runtime, self.input_names[0] if self.input_names else None)

    def responses(self, outputs: Any, idx: np.ndarray) -> list[np.ndarray]:
        return retinanet_responses(outputs, idx)
