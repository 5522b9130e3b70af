"""The Whisper stand-in: the Whisper encoder-decoder (128 log-mel bins, 30 s windows,
1,500 encoder positions, 448 decoder positions, as large-v3) at a width that transcribes on
two cores, with seeded random weights, and a byte-level BPE tokenizer with Whisper's
special tokens that perfpilot trains itself. Built offline in seconds and cached; the
folder is a Hugging Face folder like the real one (config.json, model.safetensors,
tokenizer.json, preprocessor_config.json, generation_config.json, normalizer.json).

Its transcripts mean nothing (random weights): stand-in runs measure speed and exercise
the pipeline, and their accuracy is not judged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perfpilot.artifacts import cache_dir
from perfpilot.artifacts.derived import build_once

VOCAB_SIZE = 1024
#: Whisper's special tokens, in the order the real vocabulary has them (one language).
EOT, SOT, ENGLISH = "<|endoftext|>", "<|startoftranscript|>", "<|en|>"
TRANSLATE, TRANSCRIBE, NO_TIMESTAMPS = "<|translate|>", "<|transcribe|>", "<|notimestamps|>"
SPECIALS = (EOT, SOT, ENGLISH, TRANSLATE, TRANSCRIBE, "<|startoflm|>", "<|startofprev|>",
            "<|nospeech|>", NO_TIMESTAMPS)  # fmt: skip
WHISPER: dict[str, Any] = {
    "num_mel_bins": 128,
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
    "max_source_positions": 1500,
    "max_target_positions": 448,
}
RECIPE = f"whisper-{'-'.join(str(v) for v in WHISPER.values())}-bpe{VOCAB_SIZE}-v1"
#: The stand-in's British-to-American spelling table (the real folder's normalizer.json
#: holds Whisper's 1,739 pairs; these few keep the scorer's table path exercised).
SPELLINGS = {"colour": "color", "honour": "honor", "neighbour": "neighbor", "grey": "gray"}
SPELLINGS["centre"] = "center"


def _corpus() -> Iterator[str]:
    from perfpilot.tasks.cnndm.standin import Babble
    from perfpilot.tasks.speech2text.dataset import WORDS

    babble = Babble(seed=1)
    for i in range(1500):
        yield babble.paragraph(3).lower() if i % 2 else " ".join(WORDS[i % 40 :])


def _write_model(folder: Path) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizer,
    )
    from transformers.utils import logging as hf_logging

    # "Writing model shards" would land in perfpilot's output
    hf_logging.disable_progress_bar()
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer)
    trained = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    tokenizer = WhisperTokenizer(vocab=trained["vocab"], merges=merges)
    tokenizer.add_tokens(list(SPECIALS), special_tokens=True)
    ids: dict[str, int] = {s: tokenizer.convert_tokens_to_ids(s) for s in SPECIALS}
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        decoder_start_token_id=ids[SOT],
        eos_token_id=ids[EOT],
        pad_token_id=ids[EOT],
        bos_token_id=ids[EOT],
        begin_suppress_tokens=None,
        suppress_tokens=None,
        **WHISPER,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = WhisperForConditionalGeneration(config).eval()
    gen = model.generation_config
    gen.do_sample = False  # greedy, as the reference generates
    gen.max_new_tokens = 200
    # What transformers' Whisper generate reads for language=/task= (as in the real folder).
    gen.lang_to_id = {ENGLISH: ids[ENGLISH]}
    gen.task_to_id = {"translate": ids[TRANSLATE], "transcribe": ids[TRANSCRIBE]}
    gen.no_timestamps_token_id = ids[NO_TIMESTAMPS]
    gen.is_multilingual = True
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    extractor = WhisperFeatureExtractor(feature_size=WHISPER["num_mel_bins"])
    extractor.save_pretrained(folder)
    (folder / "normalizer.json").write_text(json.dumps(SPELLINGS, indent=2) + "\n")
    return {
        "source": "generated locally by perfpilot (random weights)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": config.vocab_size,
    }


def ensure_whisper_standin() -> Path:
    """The stand-in's Hugging Face folder, built once into the artifact cache."""
    folder = cache_dir() / "models" / "whisper-standin" / RECIPE

    def build(tmp: Path) -> dict[str, Any]:
        (tmp / "model").mkdir()
        return _write_model(tmp / "model")

    return build_once(folder, "model", build, artifact="whisper-standin").path
