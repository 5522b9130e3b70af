"""TFLite backend: ``.tflite`` files on the LiteRT interpreter (``ai-edge-litert``), and
the built-in digits-cnn and ResNet50 v1.5 stand-in converted from their generated
SavedModels (cached).

An interpreter is not thread-safe, so each call takes one from a pool of idle ones
(made when none is idle, so there are as many as calls at once), with ``threads`` as its
``num_threads``. A pool, not one per thread: calibration's threads and LoadGen's are not
the same ones, and a new interpreter's first call (XNNPACK packs the weights) costs
~0.15 s more for ResNet50 here, which would otherwise land inside each measurement. The input is
resized when a batch of another size comes (cheap: a few microseconds once the sizes
have been seen). ``set_tensor`` copies the caller's batch and ``get_tensor`` returns a
copy, so no buffer is shared.
LiteRT logs one line per process when it first applies XNNPACK ("INFO: Created
TensorFlow Lite XNNPACK delegate for CPU."); it is left alone, in the child's log.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.backends.tensorflow.runtime import check_signature
from perfpilot.errors import ModelFileError, UsageError

_FLATBUFFER_ID = b"TFL3"  # bytes 4..8 of every TFLite flatbuffer


def _read_model(path: Path) -> bytes:
    """The bytes of a ``.tflite`` file, refused with one line if it cannot be one."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}", "Check --model-path.")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != _FLATBUFFER_ID:
        raise ModelFileError(
            f"{path} is not a TFLite model (no TFL3 flatbuffer header)",
            "Convert the model with tf.lite.TFLiteConverter and copy the file completely.",
        )
    return data


def _interpreter(data: bytes, where: Path, threads: int | None) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_content=data, num_threads=threads)
    except (ValueError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else "unreadable"
        raise ModelFileError(
            f"LiteRT cannot load {where} ({reason})",
            "Convert the model with tf.lite.TFLiteConverter and copy the file completely.",
        ) from err


def _dims(detail: dict[str, Any]) -> tuple[int | None, ...]:
    shape = detail.get("shape_signature")
    if shape is None or len(shape) == 0:
        shape = detail["shape"]
    return tuple(None if int(d) < 0 else int(d) for d in shape)


@dataclass
class _Worker:
    """One thread's interpreter, its tensor indices and the batch shape it is sized for."""

    interp: Any
    input_index: int
    output_index: int
    shape: tuple[int, ...] | None = None

    @classmethod
    def of(cls, interp: Any) -> _Worker:
        interp.allocate_tensors()
        return cls(
            interp,
            interp.get_input_details()[0]["index"],
            interp.get_output_details()[0]["index"],
        )


class TfliteConfig(BackendConfig):
    """The tflite backend's config: the common settings, no options of its own."""


class TfliteBackend(Backend):
    name = "tflite"
    config_class = TfliteConfig
    model_formats = ("onnx", "tflite")
    model_suffixes = (".onnx", ".tflite")

    _model: bytes | None = None

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("ai-edge-litert")
        except PackageNotFoundError:
            return "unknown"

    @classmethod
    def check_model(
        cls,
        path: Path,
        input_shape: tuple[int, ...],
        input_dtype: str,
        output_shape: tuple[int, ...],
        loader: str = "",
    ) -> None:
        """Refuse, before any test, a ``.tflite`` file whose signature does not fit the
        task (any batch size is fine: it is resized), or ONNX other than a built-in model."""
        if path.suffix.lower() == ".onnx":
            from perfpilot.backends.tensorflow.builtin import BUILTIN_NAMES, builtin_model

            if builtin_model(path, loader) is None:
                raise ModelFileError(
                    f"the tflite backend cannot run {path}: of ONNX files it runs only the "
                    f"built-in {BUILTIN_NAMES}",
                    "Give --model-path a .tflite file, or run ONNX models with "
                    "--backend onnxruntime.",
                )
            return
        interp = _interpreter(_read_model(path), path, 1)
        inputs = interp.get_input_details()
        outputs = interp.get_output_details()
        check_signature(
            str(path),
            [(d["name"], np.dtype(d["dtype"]).name, _dims(d)) for d in inputs],
            [(d["name"], _dims(d)) for d in outputs[:1]],
            input_shape,
            input_dtype,
            output_shape,
        )

    def load(self, model_path: Path | None) -> None:
        if model_path is None:
            raise ModelFileError("the tflite backend needs a model file")
        if model_path.suffix.lower() == ".onnx" and model_path.is_file():
            from perfpilot.backends.tflite.convert import ensure_builtin_tflite

            model_path = ensure_builtin_tflite(model_path, self.config.loader)
        self._path = model_path
        self._model = _read_model(model_path)
        probe = _interpreter(self._model, model_path, self.config.threads)
        inputs = probe.get_input_details()
        if len(inputs) != 1:
            raise ModelFileError(
                f"{model_path} has {len(inputs)} inputs; perfpilot feeds exactly one",
                "Convert a model with a single input tensor.",
            )
        self._dtype = np.dtype(inputs[0]["dtype"])
        self._lock = threading.Lock()
        self._idle = [_Worker.of(probe)]

    def _take(self, model: bytes) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Worker.of(_interpreter(model, self._path, self.config.threads))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        model = self._model
        if model is None:
            raise UsageError("the tflite backend has no model: call load() first")
        worker = self._take(model)
        try:
            interp = worker.interp
            if worker.shape != batch.shape:
                interp.resize_tensor_input(worker.input_index, batch.shape)
                interp.allocate_tensors()
                worker.shape = batch.shape
            interp.set_tensor(worker.input_index, np.ascontiguousarray(batch, dtype=self._dtype))
            interp.invoke()
            result: np.ndarray = interp.get_tensor(worker.output_index)
        finally:
            with self._lock:
                self._idle.append(worker)
        return result

    def close(self) -> None:
        self._idle = []
        self._model = None
