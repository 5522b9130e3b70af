"""OpenVINO backend: reads ONNX directly. fp32 unless asked otherwise (OpenVINO would
pick bf16 on CPUs that have it); bf16 and fp16 through the inference precision hint where
the CPU has them; int8 by NNCF post-training quantization on samples of the run's dataset.
Inputs are copied, never shared with the caller."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.errors import MissingExtraError, ModelFileError, UsageError

#: --precision -> (INFERENCE_PRECISION_HINT, the CPU capability it needs or None).
#: int8 runs the quantized layers in int8 and keeps the rest in f32.
_HINTS: dict[str, tuple[str, str | None]] = {
    "fp32": ("f32", None),
    "bf16": ("bf16", "BF16"),
    "fp16": ("f16", "FP16"),
    "int8": ("f32", None),
}


class OpenVinoConfig(BackendConfig):
    """The openvino backend's config: the common settings, no options of its own."""


class OpenVinoBackend(Backend):
    name = "openvino"
    config_class = OpenVinoConfig
    precisions = ("fp32", "bf16", "fp16", "int8")
    calibrated_precisions = ("int8",)

    @classmethod
    def version(cls) -> str:
        import openvino

        return str(openvino.__version__)

    @classmethod
    def check_precision(cls, precision: str) -> None:
        super().check_precision(precision)
        capability = _HINTS[precision][1]
        if capability is not None:
            import openvino as ov

            have = [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]
            if capability not in have:
                # OpenVINO would quietly run another precision: refuse instead.
                usable = [p for p, (_, need) in _HINTS.items() if need is None or need in have]
                raise UsageError(
                    f"this CPU has no {precision} support for OpenVINO "
                    f"(its capabilities: {', '.join(have)})",
                    f"Use --precision {' or '.join(usable)} here.",
                )
        if precision == "int8" and importlib.util.find_spec("nncf") is None:
            from perfpilot.backends.openvino.quantize import INSTALL_HINT

            raise MissingExtraError(
                "--precision int8 on openvino needs NNCF, which is not installed",
                f"Install it with: {INSTALL_HINT}",
            )

    def load(self, model_path: Path | None) -> None:
        import openvino as ov

        if model_path is None:
            raise ModelFileError("the openvino backend needs a model file")
        if self.config.device != "cpu":
            raise UsageError("the openvino backend runs on --device cpu only here")
        precision = self.config.precision
        self.check_precision(precision)
        source = model_path
        if precision == "int8":
            from perfpilot.backends.openvino.quantize import quantized_model

            if self.calibration is None:
                raise UsageError(
                    "--precision int8 needs calibration samples, and none were given",
                    "Call use_calibration() before load() (perfpilot run does this).",
                )
            source = quantized_model(model_path, self.calibration).xml
        core = ov.Core()
        config = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision][0],
            "PERFORMANCE_HINT": "THROUGHPUT",
        }
        if self.config.threads is not None:
            config["INFERENCE_NUM_THREADS"] = str(self.config.threads)
        try:
            self._compiled = core.compile_model(str(source), "CPU", config)
        except Exception as err:  # OpenVINO raises RuntimeError subclasses
            raise ModelFileError(f"openvino cannot load {source}: {err}") from err
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
