"""The ImageNet preprocessing of the MLPerf "resnet50-pytorch" profile.

The reference (vision/classification_and_detection/python/dataset.py,
``pre_process_imagenet_pytorch``, used by the ``imagenet_pytorch`` dataset with
``PostProcessArgMax(offset=0)``) decodes with OpenCV, converts BGR -> RGB, and then applies
torchvision's functional transforms to a PIL image: ``resize(img, 256, BILINEAR)`` (the
short side becomes 256, the long side ``int(256 * long / short)``), ``center_crop(224)``,
``to_tensor`` (/ 255) and ``normalize`` with the ImageNet mean and std; NCHW for a torch
model. The same steps are written here with Pillow and NumPy, so torchvision is not needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from perfpilot.errors import UsageError

SPEC = (
    "pytorch/pil-bilinear-short-256/crop-224-round/div-255/"
    "mean-0.485,0.456,0.406/std-0.229,0.224,0.225"
)
SHORT = 256
CROP = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _pil_image() -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise UsageError(
            "the PyTorch ImageNet preprocessing needs Pillow, which is not installed",
            "Install it with: pip install 'perfpilot[vision]'",
        ) from err
    return Image


def resized_size(width: int, height: int, short: int = SHORT) -> tuple[int, int]:
    """(width, height) after torchvision's ``resize(img, short)`` of a PIL image."""
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def crop_box(width: int, height: int, size: int = CROP) -> tuple[int, int, int, int]:
    """torchvision's ``center_crop`` box (left, top, right, bottom): offsets rounded."""
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return left, top, left + size, top + size


def preprocess_pytorch(img_bgr: np.ndarray) -> np.ndarray:
    """One decoded BGR image (H x W x 3 uint8) -> 3 x 224 x 224 float32, normalised."""
    image = _pil_image()
    rgb = np.ascontiguousarray(img_bgr[:, :, ::-1])  # cv2.COLOR_BGR2RGB
    pil = image.fromarray(rgb)
    size = resized_size(*pil.size)
    if size != pil.size:
        pil = pil.resize(size, image.Resampling.BILINEAR)
    pil = pil.crop(crop_box(*pil.size))
    x = np.asarray(pil, dtype=np.uint8).astype(np.float32) / np.float32(255)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)
