"""The Llama 3.1 8B stand-in: the Llama architecture (grouped-query attention, RoPE at
theta 500,000, SwiGLU, RMSNorm) at a size that generates on two cores, with seeded random
weights and a byte-level BPE tokenizer perfpilot trains itself on made-up English-like
text. Both are built offline in about a second and cached; the model folder is a Hugging
Face folder like the real one (config.json, model.safetensors, tokenizer.json).

Its answers mean nothing (random weights): stand-in runs measure speed and exercise the
token path, and their accuracy is not judged."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perfpilot.artifacts import cache_dir
from perfpilot.artifacts.derived import build_once

#: Special tokens, named as Llama 3's: ids 0, 1, 2 in the stand-in's vocabulary.
BOS, END, EOT = "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"
VOCAB_SIZE = 2048
TOKENIZER_RECIPE = f"bpe-bytelevel-{VOCAB_SIZE}-v1"
#: Small enough for 2 cores: a batch of 8 generates 128 tokens in about a second.
LLAMA = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "rope_theta": 500_000.0,
}
MODEL_RECIPE = f"llama-{'-'.join(str(v) for v in LLAMA.values())}-{TOKENIZER_RECIPE}-v1"

_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"


class Babble:
    """Seeded English-like text: words of 1-3 consonant-vowel syllables from a fixed
    lexicon, in capitalised sentences. Tokenizer training, synthetic articles and their
    reference summaries all come from it."""

    def __init__(self, seed: int, lexicon: int = 3000) -> None:
        words = random.Random(1234)  # one lexicon for every seed: summaries share words
        self.words = [
            "".join(words.choice(_CONSONANTS) + words.choice(_VOWELS) for _ in range(n))
            for n in (words.randint(1, 3) for _ in range(lexicon))
        ]
        self.rng = random.Random(seed)

    def sentence(self) -> str:
        words = [self.rng.choice(self.words) for _ in range(self.rng.randint(5, 14))]
        return " ".join([words[0].capitalize(), *words[1:]]) + "."

    def paragraph(self, sentences: int) -> str:
        return " ".join(self.sentence() for _ in range(sentences))


def _corpus() -> Iterator[str]:
    babble = Babble(seed=0)
    for _ in range(2000):
        yield babble.paragraph(5)


def _train_tokenizer(folder: Path) -> dict[str, Any]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[BOS, END, EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    return {"source": "trained locally by perfpilot", "vocab_size": tokenizer.get_vocab_size()}


def ensure_standin_tokenizer() -> Path:
    """The stand-in's ``tokenizer.json`` (the ``tokenizers`` library only: no torch)."""
    folder = cache_dir() / "models" / "llama-standin-tokenizer" / TOKENIZER_RECIPE

    def build(tmp: Path) -> dict[str, Any]:
        return _train_tokenizer(tmp)

    return build_once(
        folder, "tokenizer.json", build, artifact="llama-standin-tokenizer", key={}
    ).path


def _write_model(folder: Path) -> dict[str, Any]:
    import torch
    from huggingface_hub.utils import disable_progress_bars
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    disable_progress_bars()  # "Writing model shards" would land in perfpilot's output

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(ensure_standin_tokenizer()),
        bos_token=BOS,
        eos_token=EOT,
        pad_token=END,
        model_max_length=LLAMA["max_position_embeddings"],
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        **LLAMA,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).eval()
    model.generation_config.do_sample = False  # greedy, as the reference generates
    model.generation_config.max_new_tokens = 128
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "source": "generated locally by perfpilot (random weights)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": config.vocab_size,
    }


def ensure_llama_standin() -> Path:
    """The stand-in's Hugging Face folder, built once into the artifact cache."""
    folder = cache_dir() / "models" / "llama3.1-8b-standin" / MODEL_RECIPE

    def build(tmp: Path) -> dict[str, Any]:
        (tmp / "model").mkdir()
        return _write_model(tmp / "model")

    return build_once(folder, "model", build, artifact="llama3.1-8b-standin").path
