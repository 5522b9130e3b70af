"""The built-in models (digits-cnn, the ResNet50 v1.5 stand-in) as ``.tflite`` files:
the generated SavedModel converted with ``tf.lite.TFLiteConverter`` (fp32, no
optimizations), cached.

Cache key: the model and its TF recipe, the ONNX file's SHA-256, then the TensorFlow
version that converted it (``<model>-tflite/<recipe>/<onnx sha256>/tf<version>/model.tflite``
+ manifest); the
version comes from package metadata, so a cached file is found without importing TF.
Where only ai-edge-litert is installed, any complete conversion of the same ONNX file
is used; with none, the error says how to get one.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import time
from pathlib import Path

from perfpilot.artifacts import (
    atomic_write_bytes,
    atomic_write_text,
    cache_dir,
    file_lock,
    sha256_file,
)
from perfpilot.backends.tensorflow.builtin import BUILTIN_NAMES, builtin_model
from perfpilot.errors import MissingExtraError, ModelFileError

MANIFEST_SCHEMA = 1
MANIFEST = "manifest.json"
MODEL = "model.tflite"


#: Distributions that install the ``tensorflow`` module.
_TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos")


def tensorflow_installed() -> bool:
    """True when TensorFlow (needed to convert) can be imported here."""
    return importlib.util.find_spec("tensorflow") is not None


def tensorflow_version() -> str:
    """The installed TensorFlow's version, from package metadata when it is there: a
    cached conversion is then found without importing TensorFlow (seconds)."""
    for dist in _TF_DISTRIBUTIONS:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    from perfpilot.backends.tensorflow.runtime import import_tensorflow

    return str(import_tensorflow().__version__)


def _complete(folder: Path) -> bool:
    """True when ``folder`` holds a model whose hash its manifest records."""
    try:
        recorded = json.loads((folder / MANIFEST).read_text()).get("sha256")
    except (OSError, ValueError):
        return False
    return (folder / MODEL).is_file() and bool(recorded == sha256_file(folder / MODEL))


def ensure_builtin_tflite(onnx_path: Path, loader: str) -> Path:
    """The cached ``.tflite`` conversion of a built-in ONNX model (digits-cnn, the
    ResNet50 v1.5 stand-in, as the task's ``loader`` recognises them), converted from its
    cached SavedModel."""
    model = builtin_model(onnx_path, loader)
    if model is None:
        raise ModelFileError(
            f"the tflite backend cannot run {onnx_path}: it is neither a .tflite file nor "
            f"a built-in model ({BUILTIN_NAMES}) in ONNX",
            "Give --model-path a .tflite file, or run ONNX models with --backend onnxruntime.",
        )
    onnx_sha = sha256_file(onnx_path)
    artifact = f"{model.name}-tflite"
    root = cache_dir() / "models" / artifact / model.recipe.replace("/", "-") / onnx_sha
    if not tensorflow_installed():
        done = sorted(
            (f for f in root.glob("tf*") if _complete(f)),
            key=lambda f: (f / MANIFEST).stat().st_mtime,
        )
        if done:
            return done[-1] / MODEL
        raise MissingExtraError(
            f"the tflite backend makes {model.name}'s .tflite file with TensorFlow, which is "
            "not installed (and no converted file is cached)",
            "Install it once with: pip install 'perfpilot[tensorflow]' (the file is then "
            "cached), or pass --model-path model.tflite.",
        )
    folder = root / f"tf{tensorflow_version()}"
    if _complete(folder):
        return folder / MODEL
    from perfpilot.backends.tensorflow.builtin import ensure_saved_model
    from perfpilot.backends.tensorflow.runtime import filtered_stderr, import_tensorflow, quiet_env

    saved = ensure_saved_model(onnx_path, model)
    tf = import_tensorflow()
    with file_lock(root / ".lock"):
        if _complete(folder):
            return folder / MODEL
        (folder / MANIFEST).unlink(missing_ok=True)
        started = time.monotonic()
        # The MLIR converter logs at length from C++; only its errors are kept.
        with filtered_stderr(quiet_env()):
            data = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
        atomic_write_bytes(folder / MODEL, data)
        record = {
            "schema_version": MANIFEST_SCHEMA,
            "artifact": artifact,
            "recipe": model.recipe,
            "source": f"tf.lite.TFLiteConverter on the SavedModel of {onnx_path.name}",
            "onnx_sha256": onnx_sha,
            "tensorflow": tf.__version__,
            "precision": "fp32",
            "sha256": sha256_file(folder / MODEL),
            "size": len(data),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 2),
        }
        atomic_write_text(folder / MANIFEST, json.dumps(record, indent=2) + "\n")
        return folder / MODEL
