"""The built-in ONNX models the tensorflow and tflite backends rebuild with TF ops
(digits-cnn, the ResNet50 v1.5 stand-in): their loader, named by the digits and ImageNet
specs' ``loaders``, so the backends import no task.

:func:`tf_builtin` recognises the file from its whole ONNX graph without importing
TensorFlow (the parent-side model checks use it) and returns what the backend's SavedModel
cache needs: the model's name, the recipe that rebuilds it (part of the cache key) and the
function that writes its SavedModel, given a directory and the ``tensorflow`` module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perfpilot.tasks.digits import tf_net as digits
from perfpilot.tasks.digits.graph import onnx_digits_weights
from perfpilot.tasks.imagenet import tf_net as resnet50
from perfpilot.tasks.imagenet.graph import read_resnet50_standin

#: What the backends' errors list as the ONNX files they run.
NAMES = "digits-cnn, resnet50-standin"


def tf_builtin(path: Path) -> tuple[str, str, Callable[[Path, Any], None]] | None:
    """(name, recipe, save) for the built-in model the ONNX file ``path`` is, else None."""
    weights = onnx_digits_weights(path)
    if weights is not None:
        return (
            "digits-cnn",
            digits.RECIPE,
            functools.partial(digits.save_digits_saved_model, weights),
        )
    found = read_resnet50_standin(path)
    if found is not None:
        return (
            "resnet50-standin",
            resnet50.RECIPE,
            functools.partial(resnet50.save_resnet50_saved_model, found),
        )
    return None
