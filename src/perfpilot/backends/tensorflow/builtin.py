"""The built-in ONNX models the tensorflow and tflite backends rebuild with TF ops
(digits-cnn, the ResNet50 v1.5 stand-in), and the SavedModel cache they share.

:func:`builtin_model` recognises the file from its whole ONNX graph without importing
TensorFlow (the parent-side model checks use it). :func:`ensure_saved_model` caches the
SavedModel per (model, recipe, ONNX file SHA-256, TensorFlow version): it is built beside
its place and renamed in, and counts only once its manifest, written last, records the
hash of every file in it; a damaged copy is built again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from perfpilot.artifacts import atomic_write_text, cache_dir, file_lock, sha256_file
from perfpilot.errors import ModelFileError

MANIFEST_SCHEMA = 1
MANIFEST = "manifest.json"
#: What the backends' errors list as the ONNX files they run.
BUILTIN_NAMES = "digits-cnn, resnet50-standin"


@dataclass(frozen=True)
class BuiltinModel:
    """A recognised built-in ONNX model: its name, the TF recipe that rebuilds it (part
    of the cache key) and the function that writes its SavedModel into a directory."""

    name: str
    recipe: str
    save: Callable[[Path], None]


def builtin_model(path: Path) -> BuiltinModel | None:
    """The built-in model that the ONNX file ``path`` is, or None (any other file)."""
    from perfpilot.tasks.digits import tf_net as digits
    from perfpilot.tasks.digits.graph import onnx_digits_weights
    from perfpilot.tasks.imagenet import tf_net as resnet50
    from perfpilot.tasks.imagenet.graph import read_resnet50_standin

    weights = onnx_digits_weights(path)
    if weights is not None:
        return BuiltinModel(
            "digits-cnn", digits.RECIPE, functools.partial(digits.save_digits_saved_model, weights)
        )
    found = read_resnet50_standin(path)
    if found is not None:
        return BuiltinModel(
            "resnet50-standin",
            resnet50.RECIPE,
            functools.partial(resnet50.save_resnet50_saved_model, found),
        )
    return None


def tree_sha256(directory: Path) -> str:
    """One hash over every file's relative path and contents, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(path.relative_to(directory).as_posix().encode() + b"\0")
        h.update(bytes.fromhex(sha256_file(path)))
    return h.hexdigest()


def _manifest_ok(folder: Path, payload: Path, sha: str) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file() or not payload.exists():
        return False
    try:
        recorded = json.loads(manifest.read_text()).get("sha256")
    except (OSError, ValueError):
        return False
    return bool(recorded == sha)


def not_builtin_error(onnx_path: Path) -> ModelFileError:
    return ModelFileError(
        f"the tensorflow backend cannot run {onnx_path}: it is neither a SavedModel "
        f"directory nor a built-in model ({BUILTIN_NAMES}) in ONNX",
        "Give --model-path a SavedModel directory, or run ONNX models with --backend onnxruntime.",
    )


def ensure_saved_model(onnx_path: Path, model: BuiltinModel | None = None) -> Path:
    """The cached SavedModel of the built-in ONNX file ``onnx_path`` (``model``: what
    :func:`builtin_model` found, if the caller has it), built first if missing or
    damaged. Raises ModelFileError if the file is no built-in model."""
    from perfpilot.backends.tensorflow.runtime import import_tensorflow

    model = model or builtin_model(onnx_path)
    if model is None:
        raise not_builtin_error(onnx_path)
    tf = import_tensorflow()
    onnx_sha = sha256_file(onnx_path)
    artifact = f"{model.name}-tensorflow"
    folder = (
        cache_dir()
        / "models"
        / artifact
        / model.recipe.replace("/", "-")
        / f"{onnx_sha}-tf{tf.__version__}"
    )
    target = folder / "saved_model"
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if (folder / MANIFEST).is_file() and target.is_dir():
            if _manifest_ok(folder, target, tree_sha256(target)):
                return target
        started = time.monotonic()
        # Build beside the target, then rename: readers see no folder or a whole one.
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST).unlink(missing_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
        try:
            model.save(tmp / "saved_model")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp / "saved_model", target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(tmp)
        record = {
            "schema_version": MANIFEST_SCHEMA,
            "artifact": artifact,
            "recipe": model.recipe,
            "source": f"generated by perfpilot from {onnx_path.name} (sha256 {onnx_sha})",
            "onnx_sha256": onnx_sha,
            "tensorflow": tf.__version__,
            "sha256": tree_sha256(target),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 2),
        }
        atomic_write_text(folder / MANIFEST, json.dumps(record, indent=2) + "\n")
        return target
