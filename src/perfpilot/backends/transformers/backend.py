"""Hugging Face transformers backend: a causal language model from a Hugging Face folder
(config.json, weights, tokenizer), run in process on the CPU or a CUDA device.

Generation is greedy (the references' setting) with ``max_new_tokens`` from the task.
A batch is left-padded and generated together; a streamer reports each sample's first
token as the model produces it (TTFT), and each answer ends at its first end-of-sequence
token. Worker threads share one model: ``generate`` only reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.backends.torch_cuda import check_torch_device
from perfpilot.errors import ModelFileError, UsageError

if TYPE_CHECKING:
    import torch

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class TransformersConfig(BackendConfig):
    """The transformers backend's config (``--backend-option KEY=VALUE``)."""

    # The most tokens an answer may have; 0 takes the task's (Llama 3.1 8B: 128).
    max_new_tokens: int = Field(default=0, ge=0, le=1_000_000)
    # transformers' attention kernel ("sdpa", "eager", "flash_attention_2"); "" its default.
    attn_implementation: str = ""


class _FirstTokens:
    """A generation streamer that reports the first generated token of every sample of
    the batch (transformers calls ``put`` with the prompts first, then each step's
    tokens)."""

    def __init__(self, report: Callable[[int, np.ndarray], None]) -> None:
        self.report = report
        self.calls = 0

    def put(self, value: torch.Tensor) -> None:
        self.calls += 1
        if self.calls != 2:  # 1: the prompts; 3 on: later tokens
            return
        tokens = value.reshape(-1).to("cpu").numpy().astype(np.int32)
        for i in range(len(tokens)):
            self.report(i, tokens[i : i + 1].copy())

    def end(self) -> None:
        return None


def _check_fit(prompt: int, new: int, context: int) -> None:
    if context and prompt + new > context:
        raise UsageError(
            f"a prompt of {prompt} tokens plus {new} new tokens exceeds the model's context "
            f"of {context} tokens",
            "Use a model with a longer context, or a smaller max_new_tokens "
            "(--backend-option max_new_tokens=N).",
        )


class TransformersBackend(Backend):
    name = "transformers"
    config_class = TransformersConfig
    model_suffixes = ("/",)  # a Hugging Face model folder
    model_formats = ("huggingface",)
    precisions = ("fp32", "bf16", "fp16")

    @classmethod
    def version(cls) -> str:
        import torch
        import transformers

        return f"transformers-{transformers.__version__}+torch-{torch.__version__}"

    @classmethod
    def check_device(cls, device: str) -> None:
        check_torch_device(device)

    @classmethod
    def check_model(
        cls,
        path: Path,
        input_shape: tuple[int, ...],
        input_dtype: str,
        output_shape: tuple[int, ...],
        loader: str = "",
    ) -> None:
        if not path.is_dir():
            raise ModelFileError(
                f"{path} is not a Hugging Face model folder",
                "Pass the folder that holds config.json, the weights and tokenizer.json.",
            )
        missing = [
            what
            for what, names in (
                ("config.json", ("config.json",)),
                ("a tokenizer (tokenizer.json)", ("tokenizer.json", "tokenizer.model")),
            )
            if not any((path / name).is_file() for name in names)
        ]
        if missing:
            raise ModelFileError(
                f"{path} has no {' and no '.join(missing)}: not a complete Hugging Face "
                "model folder",
                "Pass the folder as downloaded (huggingface-cli download MODEL --local-dir DIR).",
            )

    @classmethod
    def check_prompts(cls, model_path: Path, longest: int, config: BackendConfig) -> None:
        import json

        assert isinstance(config, TransformersConfig)
        try:
            facts = json.loads((model_path / "config.json").read_text())
        except (OSError, ValueError):
            return  # judged when the model loads
        context = int(facts.get("max_position_embeddings") or 0)
        _check_fit(longest, config.max_new_tokens or 128, context)

    def load(self, model_path: Path | None) -> None:
        import torch
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForSpeechSeq2Seq,
            GenerationConfig,
        )
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars in every run's log
        if model_path is None:
            raise UsageError("the transformers backend needs a model folder (--model-path)")
        self.check_model(model_path, (), "", ())
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        config = self.config
        assert isinstance(config, TransformersConfig)
        options: dict[str, Any] = {"dtype": getattr(torch, _DTYPES[config.precision])}
        if config.attn_implementation:
            options["attn_implementation"] = config.attn_implementation
        try:
            # Speech encoder-decoders (Whisper) take named inputs: see _generate_named.
            hf_config = AutoConfig.from_pretrained(model_path, local_files_only=True)
            self._seq2seq = bool(getattr(hf_config, "is_encoder_decoder", False))
            auto = AutoModelForSpeechSeq2Seq if self._seq2seq else AutoModelForCausalLM
            model = auto.from_pretrained(model_path, local_files_only=True, **options)
        except (OSError, ValueError) as err:
            raise ModelFileError(
                f"transformers cannot load {model_path}: {str(err).splitlines()[0][:200]}",
                "Pass a causal language model's Hugging Face folder.",
            ) from err
        self._device = torch.device(config.device)
        self._model = model.to(self._device).eval()
        defaults = model.generation_config
        eos = defaults.eos_token_id if defaults.eos_token_id is not None else []
        self._eos = np.asarray([eos] if isinstance(eos, int) else list(eos), dtype=np.int64)
        pad = defaults.pad_token_id
        if pad is None:
            pad = getattr(model.config, "pad_token_id", None)
        self._pad = int(pad if pad is not None else (self._eos[0] if len(self._eos) else 0))
        self._max_new = config.max_new_tokens or int(defaults.max_new_tokens or 128)
        self._context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        # Greedy, as the references generate; the folder's sampling settings do not apply.
        self._generation = GenerationConfig(
            max_new_tokens=self._max_new,
            do_sample=False,
            num_beams=1,
            pad_token_id=self._pad,
            eos_token_id=[int(t) for t in self._eos] or None,
        )

    def predict(self, batch: np.ndarray) -> np.ndarray:
        raise UsageError("the transformers backend generates: it runs generative models only")

    def generate(
        self,
        prompts: np.ndarray,
        first_token: Callable[[int, np.ndarray], None] | None = None,
    ) -> list[np.ndarray]:
        import torch

        streamer = None if first_token is None else _FirstTokens(first_token)
        if self._seq2seq:
            return self._answers(self._generate_named(prompts, streamer))
        lengths = [len(p) for p in prompts]
        width = max(lengths)
        _check_fit(width, self._max_new, self._context)
        ids = np.full((len(prompts), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(prompts), width), dtype=np.int64)
        for row, (prompt, n) in enumerate(zip(prompts, lengths, strict=True)):
            ids[row, width - n :] = prompt  # left padding: every prompt ends at `width`
            mask[row, width - n :] = 1
        with torch.inference_mode():
            out = self._model.generate(
                input_ids=torch.from_numpy(ids).to(self._device),
                attention_mask=torch.from_numpy(mask).to(self._device),
                generation_config=self._generation,
                streamer=streamer,
            )
        return self._answers(out[:, width:].to("cpu").numpy())

    def _generate_named(self, prompts: np.ndarray, streamer: _FirstTokens | None) -> np.ndarray:
        """Encoder-decoder models: each sample is a dict of its named inputs (Whisper:
        ``input_features``, ``decoder_input_ids``), stacked by name and given to generate;
        the answer is what follows the decoder prompt."""
        import torch

        feeds = {}
        for name in prompts[0]:
            tensor = torch.from_numpy(np.stack([p[name] for p in prompts])).to(self._device)
            feeds[name] = tensor.to(self._model.dtype) if tensor.is_floating_point() else tensor
        with torch.inference_mode():
            out = self._model.generate(
                **feeds, generation_config=self._generation, streamer=streamer
            )
        start = feeds.get("decoder_input_ids")
        # transformers' Whisper answers the new tokens only; other models prompt included
        if start is not None and out.shape[1] >= start.shape[1]:
            if torch.equal(out[:, : start.shape[1]], start):
                out = out[:, start.shape[1] :]
        result: np.ndarray = out.to("cpu").numpy()
        return result

    def _answers(self, new: np.ndarray) -> list[np.ndarray]:
        """Each row's tokens up to its first end-of-sequence token (kept)."""
        answers = []
        for row in new:
            stops = np.flatnonzero(np.isin(row, self._eos))
            end = int(stops[0]) + 1 if len(stops) else len(row)  # the answer keeps its EOS
            answers.append(np.ascontiguousarray(row[:end], dtype=np.int32))
        return answers

    def close(self) -> None:
        self._model = None
