"""The model's tokenizer (``tokenizer.json`` in --model-path, read by the ``tokenizers``
library): prompts become text for servers that take strings, answers' text becomes token
ids where the server sends none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from perfpilot.errors import UsageError


class TextTokenizer:
    """Encode and decode with a Hugging Face ``tokenizer.json``."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        path = folder / "tokenizer.json" if folder.is_dir() else folder
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as err:  # the library raises bare Exceptions
            raise UsageError(
                f"cannot read a tokenizer from {path} ({str(err).splitlines()[0]})",
                "Give --model-path the model's Hugging Face folder (it holds tokenizer.json).",
            ) from err
        # The prompt's leading BOS is dropped from text: the server's tokenizer adds its own.
        bos = _config_token(path.parent / "tokenizer_config.json", "bos_token")
        self._bos = self._tok.token_to_id(bos) if bos else None

    def decode(self, ids: np.ndarray) -> str:
        """A prompt's token ids as text (special tokens kept, a leading BOS dropped)."""
        seq = ids.tolist()
        if seq and self._bos is not None and seq[0] == self._bos:
            seq = seq[1:]
        text: str = self._tok.decode(seq, skip_special_tokens=False)
        return text

    def encode(self, text: str) -> list[int]:
        """Generated text as token ids (no special tokens added)."""
        ids: list[int] = self._tok.encode(text, add_special_tokens=False).ids
        return ids


def _config_token(path: Path, key: str) -> str | None:
    """A special token's text from ``tokenizer_config.json`` (a string or {"content"})."""
    try:
        value = json.loads(path.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def needs_tokenizer(prompt_mode: str, token_ids: bool) -> bool:
    """Text prompts need it, and so do answers whose ids the server does not send."""
    return prompt_mode == "text" or not token_ids


def load_tokenizer(model_path: Path | None, why: str) -> TextTokenizer:
    """The tokenizer in ``model_path``; a one-line UsageError saying ``why`` where none."""
    if model_path is None or not (
        (model_path / "tokenizer.json").is_file() if model_path.is_dir() else model_path.is_file()
    ):
        where = (
            "no --model-path given" if model_path is None else f"no tokenizer.json in {model_path}"
        )
        raise UsageError(
            f"backend 'openai' needs the model's tokenizer {why} ({where})",
            "Pass --model-path DIR with the model's tokenizer.json, or "
            "--backend-option token_ids=true for a server that returns token ids (vLLM).",
        )
    return TextTokenizer(model_path)
