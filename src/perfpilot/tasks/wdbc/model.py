"""wdbc-logreg: scikit-learn's logistic regression on the training split, written as an
ONNX graph that answers both classes' logits ([N, 2]: 0 and the decision value)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfpilot.tasks.common.builtin import ensure_built
from perfpilot.tasks.common.onnx_build import model_bytes

RECIPE = "wdbc-logreg/1"


def fit() -> tuple[np.ndarray, np.ndarray]:
    """Weights [30, 2] and bias [2] of the fitted model (lbfgs: the same every time)."""
    from sklearn.linear_model import LogisticRegression

    from perfpilot.tasks.wdbc.dataset import load_splits

    train = load_splits()[0]
    fitted = LogisticRegression(max_iter=1000).fit(train.features, train.labels)
    weights = np.zeros((train.features.shape[1], 2), dtype=np.float32)
    weights[:, 1] = fitted.coef_[0]
    bias = np.array([0.0, fitted.intercept_[0]], dtype=np.float32)
    return weights, bias


def to_onnx_bytes(weights: np.ndarray, bias: np.ndarray) -> bytes:
    """``logits = input @ weights + bias``, any batch size."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "weights", "bias"], ["logits"])],
        "wdbc-logreg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", weights.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(weights, "weights"), numpy_helper.from_array(bias, "bias")],
    )
    return model_bytes(graph, "perfpilot", RECIPE, opset=13)


def ensure_wdbc_logreg() -> Path:
    """The model's ONNX file, fitted and written once into the artifact cache."""
    return ensure_built("wdbc-logreg", RECIPE, lambda: to_onnx_bytes(*fit()))
