"""BERT on the engine: the three int64 inputs fed by name, the start/end logits as each
sample's response."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perfpilot.tasks.adapter import Runtime, TaskAdapter, Wrapper


def squad_logits(outputs: np.ndarray) -> np.ndarray:
    """BERT post-processing: start/end logits per sample as float32 [seq, 2], the
    reference SUT's ``np.stack([start, end], axis=-1)``."""
    return np.ascontiguousarray(outputs, dtype=np.float32)


class NamedInputs(Wrapper):
    """Feeds a model with several named inputs from samples that stack them on axis 1
    (SQuAD: [n, 3, 384] int64 -> input_ids, input_mask, segment_ids), and stacks the
    model's outputs on a new last axis ([n, 384, 2] for BERT's start/end logits).

    Only multi-input tasks get this wrapper; single-input models keep the direct path.
    """

    def __init__(self, inner: Runtime, names: Sequence[str]) -> None:
        super().__init__(inner)
        self.names = tuple(names)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        feeds = {name: np.ascontiguousarray(batch[:, i]) for i, name in enumerate(self.names)}
        outputs = self.inner.predict_named(feeds)
        return np.stack(outputs, axis=-1)


class SquadAdapter(TaskAdapter):
    """SQuAD: samples stack the model's named inputs on axis 1; responses are float32
    [384, 2] logits."""

    def wrap(self, runtime: Runtime) -> Runtime:
        if len(self.input_names) > 1 and runtime.needs_model:
            return NamedInputs(runtime, self.input_names)
        return runtime

    def postprocess(self, outputs: np.ndarray) -> np.ndarray:
        return squad_logits(outputs)
