"""The built-in task: scikit-learn's 8x8 handwritten digits and the `digits-cnn` model.

Everything here works offline: the images ship inside scikit-learn, and the model is
defined and trained by the code below (plain NumPy, fixed seed), then exported to ONNX.

Split (fixed, documented in docs/builtin-task.md): of the 1,797 images in the order that
``sklearn.datasets.load_digits`` returns them, every image whose index is a multiple of 5
is held out (360 images: indices 0, 5, 10, ...); the other 1,437 train the model. The
held-out images, in that order, are the benchmark dataset: QSL index i is held-out image i.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfpilot.artifacts import cache_dir
from perfpilot.errors import UsageError
from perfpilot.tasks.common.builtin import ensure_built
from perfpilot.tasks.common.onnx_build import model_bytes

#: Bump when anything that changes the trained weights changes; it keys the model cache.
RECIPE_VERSION = "digits-cnn/1"
SEED = 20261123
EPOCHS = 14
TRAIN_BATCH = 64
LEARNING_RATE = 2e-3
NUM_CLASSES = 10
INPUT_SHAPE = (1, 8, 8)
HOLDOUT_EVERY = 5
# Widths: conv1 and conv2 channels, hidden units. Sized so that one inference costs a few
# million multiply-adds, which keeps the harness's own cost a small share of a run.
C1, C2, HIDDEN = 64, 128, 128


@dataclass(frozen=True)
class DigitsSplit:
    """Raw images (uint8 0..16, shape (N, 8, 8)) and labels (int64) of one split."""

    images: np.ndarray
    labels: np.ndarray

    def sha256(self) -> str:
        """Hash of the split's bytes, recorded as the dataset's identity in run records."""
        h = hashlib.sha256()
        h.update(b"digits-holdout-v1")
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()


def _digits_table() -> np.ndarray:
    """The 1,797 x 65 table (64 pixels, then the label) behind ``load_digits``, read from
    scikit-learn's bundled ``digits.csv.gz`` without importing scikit-learn (whose import
    costs seconds in every LoadGen child)."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise UsageError(
            "the built-in digits dataset needs scikit-learn, which is not installed",
            "Install it with: pip install scikit-learn",
        )
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as fh:
        table: np.ndarray = np.loadtxt(fh, delimiter=",")
    return table


def load_split(part: str) -> DigitsSplit:
    """Return the ``"holdout"`` (benchmark) or ``"train"`` part of the digits data."""
    data = _digits_table()
    images = data[:, :64].reshape(-1, 8, 8).astype(np.uint8)  # values are the integers 0..16
    labels = data[:, 64].astype(np.int64)
    held = np.arange(len(labels)) % HOLDOUT_EVERY == 0
    mask = held if part == "holdout" else ~held
    return DigitsSplit(images=images[mask], labels=labels[mask])


def preprocess(images: np.ndarray) -> np.ndarray:
    """Reference preprocessing: scale 0..16 to 0..1, float32, NCHW (N, 1, 8, 8)."""
    return (images.astype(np.float32) / np.float32(16.0)).reshape(-1, *INPUT_SHAPE)


# --------------------------------------------------------------------------------------
# The network, trained with NumPy. Activations are kept NHWC inside training (cheap
# im2col); weights are stored in ONNX's OIHW layout so export is a plain copy.
# --------------------------------------------------------------------------------------


def _im2col(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N*H*W, C*9) patches of a 3x3 convolution with padding 1."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # N,H,W,C,3,3
    cols: np.ndarray = np.ascontiguousarray(win).reshape(n * h * w, c * 9)
    return cols


def _col2im(dcols: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    n, h, w, c = shape
    d = dcols.reshape(n, h, w, c, 3, 3)
    dxp = np.zeros((n, h + 2, w + 2, c), dtype=dcols.dtype)
    for ky in range(3):
        for kx in range(3):
            dxp[:, ky : ky + h, kx : kx + w, :] += d[..., ky, kx]
    return dxp[:, 1:-1, 1:-1, :]


def _init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        w: np.ndarray = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        return w

    return {
        "conv1.weight": he((C1, 1, 3, 3), 9),
        "conv1.bias": np.zeros(C1, np.float32),
        "conv2.weight": he((C2, C1, 3, 3), C1 * 9),
        "conv2.bias": np.zeros(C2, np.float32),
        "fc1.weight": he((HIDDEN, C2 * 16), C2 * 16),
        "fc1.bias": np.zeros(HIDDEN, np.float32),
        "fc2.weight": he((NUM_CLASSES, HIDDEN), HIDDEN),
        "fc2.bias": np.zeros(NUM_CLASSES, np.float32),
    }


def _forward(
    p: dict[str, np.ndarray], x_nchw: np.ndarray, keep: bool = False
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    n = x_nchw.shape[0]
    x = x_nchw.transpose(0, 2, 3, 1)  # NHWC
    cols1 = _im2col(x)
    z1 = cols1 @ p["conv1.weight"].reshape(C1, -1).T + p["conv1.bias"]
    a1 = np.maximum(z1, 0).reshape(n, 8, 8, C1)
    cols2 = _im2col(a1)
    z2 = cols2 @ p["conv2.weight"].reshape(C2, -1).T + p["conv2.bias"]
    a2 = np.maximum(z2, 0).reshape(n, 8, 8, C2)
    blocks = a2.reshape(n, 4, 2, 4, 2, C2)
    pooled = blocks.max(axis=(2, 4))  # N,4,4,C2
    flat = pooled.transpose(0, 3, 1, 2).reshape(n, -1)  # NCHW order, as ONNX Flatten
    z3 = flat @ p["fc1.weight"].T + p["fc1.bias"]
    a3 = np.maximum(z3, 0)
    logits = a3 @ p["fc2.weight"].T + p["fc2.bias"]
    cache: dict[str, np.ndarray] = {}
    if keep:
        cache = {"cols1": cols1, "z1": z1, "cols2": cols2, "z2": z2, "blocks": blocks}
        cache.update({"pooled": pooled, "flat": flat, "z3": z3, "a3": a3})
    return logits, cache


def _backward(
    p: dict[str, np.ndarray], c: dict[str, np.ndarray], dlogits: np.ndarray
) -> dict[str, np.ndarray]:
    n = dlogits.shape[0]
    g: dict[str, np.ndarray] = {}
    g["fc2.weight"] = dlogits.T @ c["a3"]
    g["fc2.bias"] = dlogits.sum(0)
    dz3 = (dlogits @ p["fc2.weight"]) * (c["z3"] > 0)
    g["fc1.weight"] = dz3.T @ c["flat"]
    g["fc1.bias"] = dz3.sum(0)
    dpooled = (dz3 @ p["fc1.weight"]).reshape(n, C2, 4, 4).transpose(0, 2, 3, 1)
    blocks = c["blocks"]
    mask = blocks == c["pooled"][:, :, None, :, None, :]
    da2 = (mask * dpooled[:, :, None, :, None, :]).reshape(n * 64, C2)
    dz2 = da2 * (c["z2"] > 0)
    g["conv2.weight"] = (dz2.T @ c["cols2"]).reshape(C2, C1, 3, 3)
    g["conv2.bias"] = dz2.sum(0)
    da1 = _col2im(dz2 @ p["conv2.weight"].reshape(C2, -1), (n, 8, 8, C1)).reshape(n * 64, C1)
    dz1 = da1 * (c["z1"] > 0)
    g["conv1.weight"] = (dz1.T @ c["cols1"]).reshape(C1, 1, 3, 3)
    g["conv1.bias"] = dz1.sum(0)
    return g


def train(log: object = None) -> dict[str, np.ndarray]:
    """Train digits-cnn from scratch; same seed, same data, same weights."""
    rng = np.random.default_rng(SEED)
    split = load_split("train")
    x_all = preprocess(split.images)
    y_all = split.labels
    params = _init_params(rng)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
    step = 0
    for epoch in range(EPOCHS):
        # Cosine decay keeps the last epochs from wandering off the optimum.
        lr = np.float32(LEARNING_RATE * 0.5 * (1 + np.cos(np.pi * epoch / EPOCHS)))
        order = rng.permutation(len(y_all))
        for start in range(0, len(order), TRAIN_BATCH):
            idx = order[start : start + TRAIN_BATCH]
            xb, yb = x_all[idx], y_all[idx]
            logits, cache = _forward(params, xb, keep=True)
            logits = logits - logits.max(1, keepdims=True)
            prob = np.exp(logits)
            prob /= prob.sum(1, keepdims=True)
            prob[np.arange(len(yb)), yb] -= 1
            grads = _backward(params, cache, (prob / len(yb)).astype(np.float32))
            step += 1
            c1 = np.float32(1 - 0.9**step)
            c2 = np.float32(1 - 0.999**step)
            for k in params:
                m[k] = b1 * m[k] + (1 - b1) * grads[k]
                v[k] = b2 * v[k] + (1 - b2) * grads[k] * grads[k]
                params[k] -= lr * (m[k] / c1) / (np.sqrt(v[k] / c2) + eps)
        if callable(log):
            log(f"epoch {epoch + 1}/{EPOCHS}")
    return params


def predict_numpy(params: dict[str, np.ndarray], x_nchw: np.ndarray) -> np.ndarray:
    """Logits from the NumPy definition (used to cross-check the ONNX export)."""
    return _forward(params, x_nchw)[0]


def to_onnx_bytes(params: dict[str, np.ndarray]) -> bytes:
    """Export trained weights to a deterministic ONNX model (opset 17)."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in params.items()]
    nodes = [
        helper.make_node(
            "Conv",
            ["input", "conv1.weight", "conv1.bias"],
            ["c1"],
            pads=[1, 1, 1, 1],
            kernel_shape=[3, 3],
        ),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node(
            "Conv",
            ["r1", "conv2.weight", "conv2.bias"],
            ["c2"],
            pads=[1, 1, 1, 1],
            kernel_shape=[3, 3],
        ),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], transB=1),
        helper.make_node("Relu", ["g1"], ["r3"]),
        helper.make_node("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits-cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *INPUT_SHAPE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        initializer=inits,
    )
    return model_bytes(graph, "perfpilot", RECIPE_VERSION, opset=17)


def model_dir() -> Path:
    """Where the built model lives; the recipe version is part of the path."""
    return cache_dir() / "models" / "digits-cnn" / RECIPE_VERSION.replace("/", "-")


def ensure_digits_cnn(log: bool = True) -> Path:
    """Return the path of digits-cnn's ONNX file, training it first if not cached."""

    def build() -> bytes:
        if log:
            print(
                "perfpilot: training the built-in model digits-cnn (first use only)...",
                file=sys.stderr,
            )
        return to_onnx_bytes(train())

    return ensure_built("digits-cnn", RECIPE_VERSION, build)
