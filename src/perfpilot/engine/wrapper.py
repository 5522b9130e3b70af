"""The base of the engine's backend wrappers (named inputs, detections, sliding window,
transcripts, Criteo rows): a backend that delegates loading and closing to the real one
and reshapes what goes in and comes out of ``predict``."""

from __future__ import annotations

from typing import Any

from perfpilot.backends.base import Backend


class Wrapper(Backend):
    """Wraps ``inner``: same config and name; ``load`` and ``close`` go to it."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.name = inner.name

    @classmethod
    def version(cls) -> str:  # never called: the child asks the inner backend
        return "?"

    def load(self, model_path: Any) -> None:
        self.inner.load(model_path)

    def close(self) -> None:
        self.inner.close()
