"""The reference's preprocessed CNN-DailyMail file (``cnn_eval.json``; the edge set is
``sample_cnn_eval_5000.json``): a JSON list of records whose ``tok_input`` holds the prompt's
Llama 3.1 token ids and ``output`` the reference summary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from perfpilot.errors import UsageError

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
    try:
        records = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:
        raise UsageError(f"{path} is not readable JSON ({err})") from err
    if not isinstance(records, list) or not records:
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


def make_synthetic_cnndm(folder: Path, count: int = 32, seed: int = 0) -> Path:
    """Write ``count`` records of random prompts (100-600 token ids of Llama 3.1's
    128,256-token vocabulary) in the reference's layout: runs the token path end to end;
    the text means nothing."""
    from perfpilot.artifacts import atomic_write_text

    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        ids = rng.integers(128, 128_000, size=int(rng.integers(100, 600))).tolist()
        records.append(
            {
                "instruction": "Summarize the following news article in 128 tokens.",
                "input": f"synthetic article {i}",
                "tok_input": [128000, *ids],
                "output": f"synthetic summary {i}",
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILES[0]
    atomic_write_text(path, json.dumps(records) + "\n")
    return path
