"""BERT's uncased tokenizer: basic tokenization (clean-up, CJK spacing, lower case, accent
stripping, punctuation splits) followed by greedy longest-match WordPiece.

It follows the tokenizer the MLPerf BERT reference uses (``BertTokenizer(vocab_file)``,
lower case): ids come from the line numbers of ``vocab.txt``; a word longer than 100
characters, or one with no WordPiece split, becomes ``[UNK]``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from perfpilot.errors import UsageError
from perfpilot.userfiles import read_text

UNK, CLS, SEP, PAD = "[UNK]", "[CLS]", "[SEP]", "[PAD]"
MAX_WORD_CHARS = 100
SPEC = "bert-uncased/basic+wordpiece/max-word-100/v1"


def is_whitespace(char: str) -> bool:
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def is_punctuation(char: str) -> bool:
    """ASCII non-alphanumerics count as punctuation (``$``, ``^``, ...), as in BERT."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def basic_tokenize(text: str, lower: bool = True) -> list[str]:
    """Split ``text`` into words and punctuation marks (lower-cased, accents removed)."""
    cleaned = []
    for char in text:
        cp = ord(char)
        if cp == 0 or cp == 0xFFFD or is_control(char):
            continue
        if is_whitespace(char):
            cleaned.append(" ")
        elif _is_cjk(cp):
            cleaned.append(f" {char} ")
        else:
            cleaned.append(char)
    out: list[str] = []
    for word in "".join(cleaned).split():
        if lower:
            word = word.lower()
            word = "".join(
                c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn"
            )
        current = ""
        for char in word:
            if is_punctuation(char):
                if current:
                    out.append(current)
                    current = ""
                out.append(char)
            else:
                current += char
        if current:
            out.append(current)
    return out


def load_vocab(path: Path) -> dict[str, int]:
    """``vocab.txt``: one token per line, its id the line number (from 0)."""
    if not path.exists():
        raise UsageError(
            f"vocabulary file not found: {path}",
            "Put BERT's uncased vocab.txt in the dataset folder "
            "('perfpilot dataset synthetic-squad DIR' makes a stand-in).",
        )
    lines = read_text(path, "vocabulary file", "Use BERT's vocab.txt.").splitlines()
    vocab: dict[str, int] = {}
    for index, line in enumerate(lines):
        token = line.strip()
        if token and token not in vocab:
            vocab[token] = index
    for needed in (UNK, CLS, SEP):
        if needed not in vocab:
            raise UsageError(
                f"{path} lacks the special token {needed}", "Use BERT's uncased vocab.txt."
            )
    return vocab


class WordpieceTokenizer:
    """Basic tokenization + WordPiece over a vocabulary."""

    def __init__(self, vocab: dict[str, int], lower: bool = True) -> None:
        self.vocab = vocab
        self.lower = lower
        self.inverse = {index: token for token, index in vocab.items()}

    @classmethod
    def from_file(cls, path: Path) -> WordpieceTokenizer:
        return cls(load_vocab(path))

    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first split of one word (``##`` marks continuations)."""
        if len(word) > MAX_WORD_CHARS:
            return [UNK]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            match = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    match = piece
                    break
                end -= 1
            if match is None:
                return [UNK]
            pieces.append(match)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [p for word in basic_tokenize(text, self.lower) for p in self.wordpiece(word)]

    def ids(self, tokens: list[str]) -> list[int]:
        unk = self.vocab[UNK]
        return [self.vocab.get(t, unk) for t in tokens]
