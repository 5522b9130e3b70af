"""How the engine talks to a task: the runtime it feeds, and the task's adapter.

The engine knows no task. It asks the task's adapter (named by ``TaskSpec.adapter``) to
wrap the backend where the task feeds the model in its own way (named inputs, a sliding
window, one utterance at a time), and to turn the model's outputs into LoadGen
responses: one fixed-size row per sample (``postprocess``), or arrays of their own sizes
(``responses``, for adapters with ``ragged = True``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from perfpilot.tasks.spec import ModelSpec


#: Called by a generating runtime with a sample's position in the batch and its first
#: token (int32, shape [1]) as soon as that token exists.
FirstToken = Callable[[int, np.ndarray], None]
#: Called by a submitting runtime as sample i's answer ends: its token ids and count.
Finished = Callable[[int, np.ndarray, int], None]


class Runtime(Protocol):
    """What a task needs of a backend (the Backend ABC has all of it)."""

    name: str
    needs_model: bool
    submits: bool  # ``submit`` returns at once and reports samples as they end

    def load(self, model_path: Path | None) -> None: ...

    def warmup(self, batch: np.ndarray, rounds: int = 3) -> None: ...

    def predict(self, batch: np.ndarray) -> Any: ...

    def predict_named(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def generate(
        self, prompts: np.ndarray, first_token: FirstToken | None = None
    ) -> list[np.ndarray]: ...

    def submit(
        self,
        prompts: np.ndarray,
        first_token: FirstToken | None,
        finished: Finished,
        failed: Callable[[BaseException], None],
    ) -> None: ...

    def close(self) -> None: ...


class Wrapper:
    """Wraps ``inner``: same name; ``load`` and ``close`` go to it; subclasses reshape
    what goes in and comes out of ``predict``."""

    def __init__(self, inner: Runtime) -> None:
        self.inner = inner
        self.name = inner.name
        self.needs_model = inner.needs_model
        self.submits = inner.submits

    def load(self, model_path: Path | None) -> None:
        self.inner.load(model_path)

    def warmup(self, batch: np.ndarray, rounds: int = 3) -> None:
        for _ in range(rounds):
            self.predict(batch)

    def predict(self, batch: np.ndarray) -> Any:
        return self.inner.predict(batch)

    def predict_named(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.inner.predict_named(feeds)

    def generate(
        self, prompts: np.ndarray, first_token: FirstToken | None = None
    ) -> list[np.ndarray]:
        return self.inner.generate(prompts, first_token)

    def submit(
        self,
        prompts: np.ndarray,
        first_token: FirstToken | None,
        finished: Finished,
        failed: Callable[[BaseException], None],
    ) -> None:
        self.inner.submit(prompts, first_token, finished, failed)

    def close(self) -> None:
        self.inner.close()


class TaskAdapter:
    """The default: the runtime is fed samples as they are, and ``postprocess`` makes one
    contiguous array with a row per sample. Tasks override what differs."""

    #: True when samples' responses differ in size (detections, transcripts, volumes):
    #: the engine then calls ``responses`` instead of ``postprocess``.
    ragged: bool = False

    def __init__(self, model: ModelSpec, input_names: tuple[str, ...] = ()) -> None:
        self.model = model
        self.input_names = input_names

    def wrap(self, runtime: Runtime) -> Runtime:
        """The runtime as the engine will call it (the backend itself by default)."""
        return runtime

    def postprocess(self, outputs: Any) -> np.ndarray:
        """A batch's outputs -> one contiguous array, one equal-sized row per sample."""
        return np.ascontiguousarray(outputs)

    def responses(self, outputs: Any, idx: np.ndarray) -> list[np.ndarray]:
        """A batch's outputs -> one contiguous array per sample (ragged adapters)."""
        raise NotImplementedError(f"{type(self).__name__} answers with postprocess()")


class _Generation(Wrapper):
    """A generating runtime seen through ``predict`` (warm-up and calibration time whole
    generations); the engine's token path calls ``generate`` itself."""

    def predict(self, batch: np.ndarray) -> Any:
        return self.inner.generate(batch, None)


class GenerativeAdapter(TaskAdapter):
    """Generative tasks: samples are prompts (int32 token ids, one array each), answers
    are the generated token ids, reported first token first (``TaskSpec.generative``)."""

    def wrap(self, runtime: Runtime) -> Runtime:
        return _Generation(runtime)
