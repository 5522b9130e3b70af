"""Speech recognition in the harness: samples of different lengths in, transcripts of
different lengths out.

LibriSpeech samples are whole waveforms held in a 1-D object array (one float32 array
per utterance). :class:`Transcripts` runs the recognizer one utterance at a time, as the
reference RNN-T SUT does, and :func:`transcript_responses` makes each utterance's
response its label indices as int64, the reference's ``array.array("q", transcript)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from perfpilot.tasks.adapter import Runtime, TaskAdapter, Wrapper


class Transcripts(Wrapper):
    """Feeds an inner backend one waveform at a time ([1, N] float32) and returns, per
    utterance, the label indices it decoded (int64, the model's -1 padding removed)."""

    def __init__(self, inner: Runtime) -> None:
        super().__init__(inner)

    def predict(self, batch: np.ndarray) -> Any:
        found = []
        for wav in batch:
            x = np.ascontiguousarray(wav, dtype=np.float32).reshape(1, -1)
            out = np.asarray(self.inner.predict(x), dtype=np.int64).reshape(-1)
            found.append(np.ascontiguousarray(out[out >= 0]))
        return found


def transcript_responses(outputs: Sequence[np.ndarray], idx: np.ndarray) -> list[np.ndarray]:
    """One int64 response per utterance: its decoded label indices (may be empty)."""
    return [np.ascontiguousarray(o, dtype=np.int64).reshape(-1) for o in outputs]


class SpeechAdapter(TaskAdapter):
    """LibriSpeech: one waveform at a time; each utterance's label indices."""

    ragged = True

    def wrap(self, runtime: Runtime) -> Runtime:
        return Transcripts(runtime) if runtime.needs_model else runtime

    def responses(self, outputs: Any, idx: np.ndarray) -> list[np.ndarray]:
        return transcript_responses(outputs, idx)
