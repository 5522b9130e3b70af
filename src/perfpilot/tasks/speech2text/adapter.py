"""Whisper in the harness: waveforms in, transcripts out, on LoadGen's token path.

As the reference SUT feeds vLLM, each clip becomes 128-bin log-mel features of a 30 s
window (zero-padded: the benchmark's rules forbid shorter windows) and the decoder starts
from ``<|startoftranscript|><|en|><|transcribe|><|notimestamps|>``; decoding is greedy,
up to 200 tokens. The features are computed inside the timed generation (vLLM does it in
``generate``). The runtime sees each sample as its named inputs (``input_features``,
``decoder_input_ids``) and answers the generated token ids; LoadGen counts those tokens,
and logs what the reference logs: the transcript lower-cased and stripped, as int64
indices of its characters among the 42 labels (others dropped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.errors import ModelFileError
from perfpilot.tasks.adapter import FirstToken, GenerativeAdapter, Runtime, Wrapper
from perfpilot.tasks.speech2text.dataset import SAMPLE_RATE, text_to_labels

#: The reference's prompt (QSL.py): English transcription without timestamps.
DECODER_PROMPT = ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")


class Transcriber(Wrapper):
    """Turns waveforms into the model's named inputs (log-mel features and the decoder
    prompt) for the inner runtime's ``generate``, and generated tokens into label
    indices. A runtime without a model (null) gets the waveforms as they are."""

    def __init__(self, inner: Runtime) -> None:
        super().__init__(inner)
        self._features: Any = None
        self._tokenizer: Any = None
        self._prompt = np.zeros(0, dtype=np.int64)

    def load(self, model_path: Path | None) -> None:
        self.inner.load(model_path)
        if model_path is None or not self.inner.needs_model:
            return
        from transformers import AutoTokenizer, WhisperFeatureExtractor

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
            if (model_path / "preprocessor_config.json").is_file():
                self._features = WhisperFeatureExtractor.from_pretrained(
                    model_path, local_files_only=True
                )
            else:  # Whisper's defaults at the model's mel bins (large-v3: 128)
                config = json.loads((model_path / "config.json").read_text())
                self._features = WhisperFeatureExtractor(feature_size=config["num_mel_bins"])
        except (OSError, ValueError, KeyError) as err:
            raise ModelFileError(
                f"cannot read Whisper's tokenizer or feature settings in {model_path} "
                f"({str(err).splitlines()[0][:200]})",
                "Pass the whisper-large-v3 Hugging Face folder as downloaded.",
            ) from err
        ids = [self._tokenizer.convert_tokens_to_ids(t) for t in DECODER_PROMPT]
        if any(i is None or i == self._tokenizer.unk_token_id for i in ids):
            raise ModelFileError(
                f"the tokenizer in {model_path} lacks Whisper's special tokens "
                f"({' '.join(DECODER_PROMPT)})",
                "Pass a Whisper model folder.",
            )
        self._prompt = np.asarray(ids, dtype=np.int64)

    def generate(
        self, prompts: np.ndarray, first_token: FirstToken | None = None
    ) -> list[np.ndarray]:
        if self._features is None:
            return self.inner.generate(prompts, first_token)
        # Whisper's extractor pads (or cuts) every clip to 30 s, as the reference's vLLM.
        mels = self._features(
            [np.asarray(p, dtype=np.float32) for p in prompts],
            sampling_rate=SAMPLE_RATE,
            return_tensors="np",
        )["input_features"]
        batch = np.empty(len(prompts), dtype=object)
        for i in range(len(prompts)):
            batch[i] = {"input_features": mels[i], "decoder_input_ids": self._prompt}
        return self.inner.generate(batch, first_token)

    def predict(self, batch: np.ndarray) -> Any:
        return self.generate(batch, None)  # warm-up and calibration time whole generations

    def labels(self, tokens: np.ndarray) -> np.ndarray:
        """One answer's label indices: its text without special tokens, lower-cased and
        stripped, as the reference SUT logs it (empty without a tokenizer)."""
        if self._tokenizer is None:
            return np.zeros(0, dtype=np.int64)
        text = self._tokenizer.decode(tokens.tolist(), skip_special_tokens=True)
        return text_to_labels(str(text).lower().strip())


class WhisperAdapter(GenerativeAdapter):
    """Whisper: features and decoder prompt in, tokens counted, label indices logged."""

    ragged = True

    def wrap(self, runtime: Runtime) -> Runtime:
        self._transcriber = Transcriber(runtime)
        return self._transcriber

    def responses(self, outputs: Any, idx: np.ndarray) -> list[np.ndarray]:
        return [self._transcriber.labels(np.asarray(tokens)) for tokens in outputs]
