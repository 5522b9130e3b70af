"""The base of backends that submit asynchronously (a server's client, an engine with its
own scheduler): the engine hands them queries with ``submit``; warm-up, calibration and
the batch path reach them through a blocking ``generate`` built on it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from perfpilot.backends.base import Backend


class SubmittingBackend(Backend):
    """``submit`` is the backend's own; ``generate`` and ``predict`` wait on it."""

    submits = True

    def generate(
        self,
        prompts: np.ndarray,
        first_token: Callable[[int, np.ndarray], None] | None = None,
    ) -> list[np.ndarray]:
        answers: list[np.ndarray | None] = [None] * len(prompts)
        errors: list[BaseException] = []
        left = [len(prompts)]
        done = threading.Event()

        def finished(i: int, tokens: np.ndarray, n_tokens: int) -> None:
            answers[i] = tokens.copy()  # the caller's array may be reused once this returns
            left[0] -= 1  # on the backend's one thread only
            if not left[0]:
                done.set()

        def failed(err: BaseException) -> None:
            errors.append(err)
            done.set()

        if len(prompts):
            self.submit(prompts, first_token, finished, failed)
            done.wait()
        if errors:
            raise errors[0]
        return [a for a in answers if a is not None]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = np.empty(len(batch), dtype=object)
        out[:] = self.generate(batch)
        return out
