"""The backend interface. It never names a framework."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from perfpilot.config.run import Precision


class BackendConfig(BaseModel):
    """Settings every backend understands."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str = "cpu"
    threads: int | None = Field(default=None, ge=1)  # the runtime's own (intra-op) threads
    output_shape: tuple[int, ...] = ()  # per-sample output shape the task expects
    precision: Precision = "fp32"  # one of the backend's ``precisions``
    # Graph tensors to feed and fetch, for model files that do not name them (TensorFlow
    # frozen graphs); empty: the backend reads them from the model.
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class CalibrationData:
    """Samples of the run's dataset for backends that quantize (``--precision int8``)."""

    dataset_sha256: str  # identifies the data, e.g. for a cache key
    total_count: int
    samples: Callable[[np.ndarray], np.ndarray]  # indices -> preprocessed batch


class Backend(ABC):
    """Load a model file, then answer batches. Implementations must be thread-safe in
    ``predict`` (the engine calls it from several worker threads)."""

    name: str = "?"
    #: False for backends that never read a model file (null): none is built for them.
    needs_model: bool = True
    #: File suffixes this backend reads; ".onnx" files are checked against the task first.
    model_suffixes: tuple[str, ...] = (".onnx",)
    #: Catalog model formats (``ModelSpec.format``) whose files this backend reads.
    model_formats: tuple[str, ...] = ("onnx",)
    #: Precisions this backend can run a model in (``--precision``); fp32 is the default.
    precisions: tuple[str, ...] = ("fp32",)
    #: Precisions that need samples of the dataset (``use_calibration``) before ``load``.
    calibrated_precisions: tuple[str, ...] = ()

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.calibration: CalibrationData | None = None

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """Version of the runtime behind this backend."""

    @classmethod
    def check_device(cls, device: str) -> None:
        """Raise a UsageError if ``device`` cannot be used here (checked before any run)."""
        return None

    @classmethod
    def check_model(
        cls,
        path: Path,
        input_shape: tuple[int, ...],
        input_dtype: str,
        output_shape: tuple[int, ...],
    ) -> None:
        """Raise a ModelFileError if the file at ``path`` cannot serve the task (per-sample
        ``input_shape``, ``input_dtype`` and ``output_shape``), before any test. The default
        checks nothing: the file is judged when it loads (ONNX files are checked against
        the task by the engine whatever the backend)."""
        return None

    @classmethod
    def check_precision(cls, precision: str) -> None:
        """Raise a UsageError if ``precision`` cannot be used here (checked before any run).
        Backends that depend on the hardware for a precision extend this."""
        if precision not in cls.precisions:
            from perfpilot.errors import UsageError

            raise UsageError(
                f"backend {cls.name!r} does not support --precision {precision}",
                f"It supports: {', '.join(cls.precisions)}.",
            )

    def use_calibration(self, data: CalibrationData) -> None:
        """Give the backend samples to calibrate on; called before ``load`` when the
        precision is one of ``calibrated_precisions``."""
        self.calibration = data

    @abstractmethod
    def load(self, model_path: Path | None) -> None:
        """Prepare the model for inference."""

    def warmup(self, batch: np.ndarray, rounds: int = 3) -> None:
        """Run a few batches so that first-call costs stay out of measurements."""
        for _ in range(rounds):
            self.predict(batch)

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Outputs for a batch (first axis is the batch)."""

    def predict_named(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every output, in the model's order, for a model with several named inputs
        (BERT: ``input_ids``, ``input_mask``, ``segment_ids``). Backends that can feed
        such models override this."""
        from perfpilot.errors import UsageError

        raise UsageError(
            f"backend {self.name!r} cannot run models with several named inputs "
            f"({', '.join(feeds)})",
            "Use --backend onnxruntime for this model.",
        )

    def close(self) -> None:
        """Release the runtime's resources (most backends need nothing)."""
        return None
