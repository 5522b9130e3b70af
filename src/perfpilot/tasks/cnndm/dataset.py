"""The reference's preprocessed CNN-DailyMail file (``cnn_eval.json``; the edge set is
``sample_cnn_eval_5000.json``): a JSON list of records whose ``tok_input`` holds the prompt's
Llama 3.1 token ids and ``output`` the reference summary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from perfpilot.errors import UsageError
from perfpilot.userfiles import load_json

FILES = ("cnn_eval.json", "sample_cnn_eval_5000.json")


def eval_file(folder: Path) -> Path:
    """The eval file in ``folder`` (or ``folder`` itself when it is the file)."""
    if folder.is_file():
        return folder
    for name in FILES:
        if (folder / name).is_file():
            return folder / name
    raise UsageError(
        f"{folder} holds neither {' nor '.join(FILES)}",
        "Point --dataset-path at the reference's preprocessed CNN-DailyMail folder, or make "
        "a stand-in with 'perfpilot dataset synthetic-cnndm DIR'.",
    )


def read_records(path: Path) -> list[dict[str, object]]:
    """The file's records, each checked for a non-empty list of token ids."""
    records: list[dict[str, object]] = load_json(path, "dataset file", list)
    if not records:
        raise UsageError(f"{path}: expected a non-empty JSON list of records")
    for i, record in enumerate(records):
        ids = record.get("tok_input") if isinstance(record, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(t, int) for t in ids):
            raise UsageError(
                f"{path}: record {i} has no 'tok_input' list of token ids",
                "Use the reference's preprocessed file (download-cnndm / prepare-calibration).",
            )
    return records


class CnnDailyMail:
    """Prompts as int32 token-id arrays (a 1-D object array of them, one per sample)."""

    name = "cnndm"

    def __init__(self, path: Path, size: int | None = None) -> None:
        source = eval_file(path)
        records = read_records(source)[:size]
        self._prompts = np.empty(len(records), dtype=object)
        for i, record in enumerate(records):
            self._prompts[i] = np.asarray(record["tok_input"], dtype=np.int32)
        self._references = [str(r.get("output", "")) for r in records]
        digest = hashlib.sha256(source.name.encode())
        for prompt in self._prompts:
            digest.update(prompt.tobytes() + b"\0")
        self._sha = digest.hexdigest()
        self.total_count = len(records)
        self.performance_count = self.total_count

    def sha256(self) -> str:
        return self._sha

    def samples(self, indices: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._prompts[np.asarray(indices)]
        return out

    def references(self) -> list[str]:
        """The reference summaries, in sample order."""
        return self._references


#: The reference's instruction (the prompt is instruction, article, then "Summary:").
INSTRUCTION = (
    "Summarize the following news article in 128 tokens. Please output the summary only, "
    "without any other text."
)


def make_synthetic_cnndm(
    folder: Path, count: int = 32, seed: int = 0, tokenizer: Path | None = None
) -> Path:
    """Write ``count`` records in the reference's layout: made-up articles of 4-30
    sentences, their first three sentences as the reference summary, and the prompt's
    token ids by ``tokenizer`` (a ``tokenizer.json`` or a folder holding one; by default
    the Llama stand-in's, built here). The text means nothing; it runs the token path and
    the ROUGE scorer end to end."""
    from tokenizers import Tokenizer

    from perfpilot.artifacts import atomic_write_text
    from perfpilot.tasks.cnndm.standin import BOS, Babble, ensure_standin_tokenizer

    path = ensure_standin_tokenizer() if tokenizer is None else tokenizer
    if path.is_dir():
        path = path / "tokenizer.json"
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises plain Exceptions
        raise UsageError(
            f"cannot read a tokenizer from {path} ({str(err).splitlines()[0]})",
            "Give --tokenizer a Hugging Face tokenizer.json or the folder holding it.",
        ) from err
    bos = tok.token_to_id(BOS)
    babble = Babble(seed)
    records = []
    for _ in range(count):
        sentences = [babble.sentence() for _ in range(babble.rng.randint(4, 30))]
        article = " ".join(sentences)
        prompt = f"{INSTRUCTION}\n\nArticle:\n{article}\n\nSummary:"
        ids = tok.encode(prompt, add_special_tokens=False).ids
        records.append(
            {
                "instruction": INSTRUCTION,
                "input": article,
                "tok_input": ([bos] if bos is not None else []) + ids,
                "output": "\n".join(sentences[:3]),
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / FILES[0]
    atomic_write_text(out, json.dumps(records) + "\n")
    return out
