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

from perfpilot.backends.base import Backend
from perfpilot.engine.wrapper import Wrapper


class Transcripts(Wrapper):
    """Feeds an inner backend one waveform at a time ([1, N] float32) and returns, per
    utterance, the label indices it decoded (int64, the model's -1 padding removed)."""

    def __init__(self, inner: Backend) -> None:
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
