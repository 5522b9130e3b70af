"""OpenVINO backend: reads ONNX directly. fp32 unless asked otherwise (OpenVINO would
pick bf16 on CPUs that have it), and inputs are copied, never shared with the caller."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from perfpilot.backends.base import Backend
from perfpilot.errors import ModelFileError, UsageError


class OpenVinoBackend(Backend):
    name = "openvino"

    @classmethod
    def version(cls) -> str:
        import openvino

        return str(openvino.__version__)

    def load(self, model_path: Path | None) -> None:
        import openvino as ov

        if model_path is None:
            raise ModelFileError("the openvino backend needs a model file")
        if self.config.device != "cpu":
            raise UsageError("the openvino backend runs on --device cpu only here")
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}
        if self.config.threads is not None:
            config["INFERENCE_NUM_THREADS"] = str(self.config.threads)
        try:
            self._compiled = core.compile_model(str(model_path), "CPU", config)
        except Exception as err:  # OpenVINO raises RuntimeError subclasses
            raise ModelFileError(f"openvino cannot load {model_path}: {err}") from err
        self._output = self._compiled.output(0)
        self._local = threading.local()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        # One infer request per worker thread keeps predict thread-safe without creating a
        # request per call; share_inputs=False copies the caller's buffer.
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        result = request.infer({0: batch}, share_inputs=False, share_outputs=False)
        return np.asarray(result[self._output])

    def close(self) -> None:
        # Dropping the thread-local drops every thread's infer request with it.
        self._local = threading.local()
        self._compiled = None
