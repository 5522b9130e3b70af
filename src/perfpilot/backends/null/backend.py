"""The null backend: answers every sample at once with zeros of the task's output shape
(generative tasks: ``output_tokens`` zero tokens, the first reported first). It measures
the harness (LoadGen plus perfpilot) without any inference cost."""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import Field

from perfpilot.backends.base import Backend, BackendConfig


class NullConfig(BackendConfig):
    """The null backend's config: for generative tasks, how many tokens each answer has
    (``--backend-option output_tokens=N``; LoadGen needs at least 2 for TPOT)."""

    output_tokens: int = Field(default=16, ge=2, le=1_000_000)


class NullBackend(Backend):
    name = "null"
    config_class = NullConfig
    needs_model = False

    @classmethod
    def version(cls) -> str:
        return f"python-{platform.python_version()}"

    def load(self, model_path: Path | None) -> None:
        # A size of its own per sample (-1: detections, transcripts) answers one value.
        self._shape = tuple(max(d, 1) for d in self.config.output_shape)
        self._zeros = np.zeros((0, *self._shape), dtype=np.float32)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        n = len(batch)
        if len(self._zeros) < n:
            self._zeros = np.zeros((n, *self._shape), dtype=np.float32)
        return self._zeros[:n]

    def generate(
        self,
        prompts: np.ndarray,
        first_token: Callable[[int, np.ndarray], None] | None = None,
    ) -> list[np.ndarray]:
        config = self.config
        assert isinstance(config, NullConfig)
        answer = np.zeros(config.output_tokens, dtype=np.int32)
        if first_token is not None:
            first = answer[:1]
            for i in range(len(prompts)):
                first_token(i, first)
        return [answer] * len(prompts)  # read only: LoadGen copies what it logs
