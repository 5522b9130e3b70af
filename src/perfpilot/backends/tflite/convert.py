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
from pathlib import Path

from perfpilot.artifacts import cache_dir, sha256_file
from perfpilot.artifacts.derived import MANIFEST, build_once, ready
from perfpilot.backends.tensorflow.builtin import BUILTIN_NAMES, builtin_model
from perfpilot.errors import MissingExtraError, ModelFileError

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
            (f for f in root.glob("tf*") if ready(f, MODEL, artifact=artifact)),
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
    version = tensorflow_version()

    def convert(tmp: Path) -> dict[str, str]:
        from perfpilot.backends.tensorflow.builtin import ensure_saved_model
        from perfpilot.backends.tensorflow.runtime import (
            filtered_stderr,
            import_tensorflow,
            quiet_env,
        )

        saved = ensure_saved_model(onnx_path, model)
        tf = import_tensorflow()
        # The MLIR converter logs at length from C++; only its errors are kept.
        with filtered_stderr(quiet_env()):
            data = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
        (tmp / MODEL).write_bytes(data)
        return {
            "source": f"tf.lite.TFLiteConverter on the SavedModel of {onnx_path.name}",
            "precision": "fp32",
        }

    key = {"recipe": model.recipe, "onnx_sha256": onnx_sha, "tensorflow": version}
    return build_once(root / f"tf{version}", MODEL, convert, artifact=artifact, key=key).path
