"""The null backend: answers every sample at once with zeros of the task's output shape.
It measures the harness (LoadGen plus perfpilot) without any inference cost."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from perfpilot.backends.base import Backend, BackendConfig


class NullConfig(BackendConfig):
    """The null backend's config: the common settings, no options of its own."""


class NullBackend(Backend):
    name = "null"
    config_class = NullConfig
    needs_model = False

    @classmethod
    def version(cls) -> str:
        return f"python-{platform.python_version()}"

    def load(self, model_path: Path | None) -> None:
        self._zeros = np.zeros((0, *self.config.output_shape), dtype=np.float32)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        n = len(batch)
        if len(self._zeros) < n:
            self._zeros = np.zeros((n, *self.config.output_shape), dtype=np.float32)
        return self._zeros[:n]
