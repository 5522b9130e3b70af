"""Whole-volume segmentation for 3D-UNet: the MLCommons reference's sliding-window
inference, and the backend wrapper that runs it one KiTS19 case at a time.

The reference (``base_SUT.py`` and ``inference_utils.py``) cuts each preprocessed case
(1, D, H, W) into 128^3 patches with a stride of 64 (overlap 0.5), runs the model on each
patch (batch 1), weights every patch's 3-class scores by a Gaussian importance map
(sigma 0.125 * 128 per axis, cube root of the 3-D product, peak 1), sums the weighted
scores and the weights over the volume, divides, and answers LoadGen with the argmax as
uint8 (D * H * W bytes, C order). Accumulation is float32, as there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from perfpilot.tasks.adapter import Runtime, TaskAdapter, Wrapper

ROI = 128
OVERLAP = 0.5
SIGMA_FRACTION = 0.125
CLASSES = 3


def gaussian_importance(size: int = ROI, sigma_fraction: float = SIGMA_FRACTION) -> np.ndarray:
    """The reference's patch weights: a symmetric Gaussian window of ``size`` points
    (scipy's ``signal.gaussian(size, sigma_fraction * size)``), its 3-D outer product,
    cube root, divided by its maximum; float32 (size, size, size)."""
    n = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * (n / (sigma_fraction * size)) ** 2)
    cube = np.cbrt(g[:, None, None] * g[None, :, None] * g[None, None, :])
    cube /= cube.max()
    out: np.ndarray = cube.astype(np.float32)
    return out


def window_starts(
    shape: Sequence[int], roi: int = ROI, overlap: float = OVERLAP
) -> Iterator[tuple[int, int, int]]:
    """Patch origins over a (D, H, W) volume, in the reference's order (depth slowest):
    stride ``int(roi * (1 - overlap))``, ``(side - roi) // stride + 1`` patches a side."""
    stride = int(roi * (1 - overlap))
    counts = [(side - roi) // stride + 1 for side in shape]
    for i in range(counts[0]):
        for j in range(counts[1]):
            for k in range(counts[2]):
                yield i * stride, j * stride, k * stride


def check_covered(shape: Sequence[int], roi: int = ROI, overlap: float = OVERLAP) -> None:
    """Raise ValueError unless the window covers every voxel of a (D, H, W) volume (the
    reference's preprocessing pads every side to 128 + a multiple of 64)."""
    stride = int(roi * (1 - overlap))
    if len(shape) != 3 or any(s < roi or (s - roi) % stride for s in shape):
        raise ValueError(
            f"volume of shape {tuple(shape)} is not covered by {roi}^3 patches at stride "
            f"{stride}: sides must be {roi} + a multiple of {stride} (the reference pads so)"
        )


def sliding_window_scores(
    volume: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    roi: int = ROI,
    overlap: float = OVERLAP,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Gaussian-weighted mean of the patch scores, float32 (classes, D, H, W).

    ``volume`` is (1, D, H, W) or (D, H, W); ``predict`` maps a (1, 1, roi, roi, roi)
    float32 patch to (1, classes, roi, roi, roi) scores."""
    vol = np.asarray(volume, dtype=np.float32)
    if vol.ndim == 4:
        vol = vol[0]
    check_covered(vol.shape, roi, overlap)
    patch_w = gaussian_importance(roi) if weights is None else weights
    result: np.ndarray | None = None
    weighted: np.ndarray | None = None  # reused: a fresh 25 MB array per patch costs more
    norm = np.zeros(vol.shape, dtype=np.float32)
    for i, j, k in window_starts(vol.shape, roi, overlap):
        box = (slice(i, i + roi), slice(j, j + roi), slice(k, k + roi))
        patch = np.ascontiguousarray(vol[box])[np.newaxis, np.newaxis]
        scores = np.asarray(predict(patch), dtype=np.float32)
        if scores.ndim == 5:
            scores = scores[0]
        if result is None or weighted is None:
            result = np.zeros((scores.shape[0], *vol.shape), dtype=np.float32)
            weighted = np.empty(scores.shape, dtype=np.float32)
        np.multiply(scores, patch_w, out=weighted)
        result[(slice(None), *box)] += weighted
        norm[box] += patch_w
    assert result is not None  # check_covered guarantees at least one patch
    result /= norm
    return result


def segment_volume(
    volume: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    roi: int = ROI,
    overlap: float = OVERLAP,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """The reference's answer for one case: argmax over classes of the weighted mean
    scores, uint8 (D, H, W), C-contiguous (its bytes are the LoadGen response)."""
    scores = sliding_window_scores(volume, predict, roi, overlap, weights)
    return argmax_classes(scores)


def argmax_classes(scores: np.ndarray) -> np.ndarray:
    """``np.argmax(scores, axis=0)`` as uint8 (the first class wins a tie), computed class
    by class: argmax over a leading axis of 3 walks memory with a stride and takes ~3x
    longer. A NaN anywhere falls back to numpy's own rule (the first NaN wins)."""
    if np.isnan(scores).any():
        return np.ascontiguousarray(np.argmax(scores, axis=0).astype(np.uint8))
    best = np.zeros(scores.shape[1:], dtype=np.uint8)
    top = scores[0].copy()
    for cls in range(1, scores.shape[0]):
        best[scores[cls] > top] = cls
        np.maximum(top, scores[cls], out=top)
    return best


class SlidingWindow(Wrapper):
    """Runs a 3D-UNet patch model over whole cases. ``predict`` takes a 1-D object array
    of (1, D, H, W) volumes (the KiTS19 dataset's samples) and returns one uint8 label
    volume per case, which :func:`segmentation_responses` hands to LoadGen as they are.
    The inner backend sees only (1, 1, 128, 128, 128) patches."""

    def __init__(self, inner: Runtime) -> None:
        super().__init__(inner)
        self.weights = gaussian_importance(ROI)

    def warmup(self, batch: np.ndarray, rounds: int = 3) -> None:
        """Warm the runtime on one patch of the first case: a whole case would cost
        minutes on a CPU, and the first patch pays every first-call cost already."""
        first = np.asarray(batch[0], dtype=np.float32)
        first = first[0] if first.ndim == 4 else first
        patch = np.ascontiguousarray(first[:ROI, :ROI, :ROI])[np.newaxis, np.newaxis]
        self.inner.warmup(patch, rounds)

    def predict(self, batch: np.ndarray) -> Any:
        return [segment_volume(v, self.inner.predict, weights=self.weights) for v in batch]


def segmentation_responses(outputs: Sequence[np.ndarray], idx: np.ndarray) -> list[np.ndarray]:
    """Per-case responses: each case's uint8 label volume, flattened in C order."""
    return [np.ascontiguousarray(v, dtype=np.uint8).reshape(-1) for v in outputs]


class SegmentationAdapter(TaskAdapter):
    """KiTS19: a sliding window over each whole case; each case's label volume."""

    ragged = True

    def wrap(self, runtime: Runtime) -> Runtime:
        return SlidingWindow(runtime)

    def responses(self, outputs: Any, idx: np.ndarray) -> list[np.ndarray]:
        return segmentation_responses(outputs, idx)
