"""What the generative tasks' readers and scorers share: the reference's table files
(pandas pickles, Parquet), prompts as token-id arrays, the generated token ids of an
accuracy log, and the model's tokenizer to read them with."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.errors import MissingExtraError, UsageError
from perfpilot.tasks.common.accuracy_log import read_accuracy_log

Columns = dict[str, list[Any]]


def read_table(path: Path) -> Columns:
    """A reference table as columns of plain Python values. Parquet is read with pyarrow;
    a pickle is the reference's pickled pandas DataFrame, which only pandas can load
    (unpickling runs code from the file: read only the files MLCommons publishes)."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as err:
            raise MissingExtraError(
                f"reading {path.name} needs pyarrow", "pip install 'perfpilot[llm]'"
            ) from err
        try:
            table = pq.read_table(path)
        except Exception as err:  # pyarrow raises several unrelated types
            raise UsageError(f"{path} is not a readable Parquet file ({_first(err)})") from err
        return {name: table.column(name).to_pylist() for name in table.column_names}
    try:
        import pandas as pd
    except ImportError as err:
        raise MissingExtraError(
            f"{path.name} is a pickled pandas DataFrame: reading it needs pandas",
            "pip install 'perfpilot[llm]'",
        ) from err
    try:
        frame = pd.read_pickle(path)
    except Exception as err:  # unpickling raises anything
        raise UsageError(f"{path} is not a readable pickle ({_first(err)})") from err
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"{path}: expected a pickled pandas DataFrame, found {type(frame)}")
    return {str(name): [_plain(v) for v in frame[name]] for name in frame.columns}


def _first(err: Exception) -> str:
    """An exception's first line, shortened: error messages stay one line."""
    lines = str(err).splitlines() or [type(err).__name__]
    return lines[0][:120]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_pickle(path: Path, columns: Columns) -> None:
    """``columns`` as the reference writes its tables: a pickled pandas DataFrame."""
    import io

    import pandas as pd

    from perfpilot.artifacts import atomic_write_bytes

    buffer = io.BytesIO()
    pd.DataFrame(columns).to_pickle(buffer)
    atomic_write_bytes(path, buffer.getvalue())


def token_prompts(path: Path, columns: Columns, names: Sequence[str]) -> list[np.ndarray]:
    """The prompts' token ids from the first of ``names`` the table has, as int32 arrays."""
    name = next((n for n in names if n in columns), None)
    if name is None:
        raise UsageError(
            f"{path} has no {' or '.join(repr(n) for n in names)} column of prompt token ids "
            f"(columns: {', '.join(sorted(columns))})",
            "Use the reference's preprocessed file, or make a stand-in with "
            "'perfpilot dataset synthetic-<task> DIR'.",
        )
    prompts = []
    for i, ids in enumerate(columns[name]):
        if not isinstance(ids, list | tuple) or not ids:
            raise UsageError(f"{path}: row {i} of {name!r} is not a list of token ids")
        prompts.append(np.asarray(ids, dtype=np.int32))
    if not prompts:
        raise UsageError(f"{path} holds no rows")
    return prompts


@dataclass
class TokenPrompts:
    """The engine's view of a generative dataset: prompts as int32 token-id arrays (a 1-D
    object array, one per sample) and the file's identity."""

    name: str
    source: Path
    prompts: list[np.ndarray]

    def __post_init__(self) -> None:
        self._array = np.empty(len(self.prompts), dtype=object)
        digest = hashlib.sha256(self.source.name.encode())
        for i, prompt in enumerate(self.prompts):
            self._array[i] = prompt
            digest.update(prompt.tobytes() + b"\0")
        self._sha = digest.hexdigest()
        self.total_count = len(self.prompts)
        self.performance_count = self.total_count

    def sha256(self) -> str:
        return self._sha

    def samples(self, indices: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._array[np.asarray(indices)]
        return out


def read_generations(log: Path, first_only: bool = True) -> list[tuple[int, np.ndarray]]:
    """(qsl_idx, generated int32 token ids) per record of an accuracy log, in log order;
    with ``first_only`` only the first record of each sample (as the references that
    deduplicate do)."""
    out: list[tuple[int, np.ndarray]] = []
    seen: set[int] = set()
    for record in read_accuracy_log(log):
        if not isinstance(record, dict) or "qsl_idx" not in record or "data" not in record:
            raise UsageError(f"{log}: a record lacks qsl_idx or data")
        index = int(record["qsl_idx"])  # type: ignore[call-overload]
        if first_only and index in seen:
            continue
        seen.add(index)
        out.append((index, np.frombuffer(bytes.fromhex(str(record["data"])), dtype="<i4")))
    if not out:
        raise UsageError(f"{log} holds no responses", "Run the test in accuracy mode.")
    return out


def check_indices(log: Path, generations: Sequence[tuple[int, np.ndarray]], size: int) -> None:
    """A usage error for a ``qsl_idx`` outside a dataset of ``size`` samples."""
    for index, _ in generations:
        if not 0 <= index < size:
            raise UsageError(
                f"{log}: qsl_idx {index} is outside the dataset ({size} samples)",
                "Score the log with the dataset it was run on.",
            )


def load_tokenizer(path: Path | None) -> Any:
    """The ``tokenizers`` tokenizer in ``path`` (a tokenizer.json, or a model folder
    holding one)."""
    if path is None:
        raise UsageError(
            "scoring needs the model's tokenizer to read the generated token ids",
            "Pass --model-path with the model's Hugging Face folder (it holds tokenizer.json).",
        )
    try:
        from tokenizers import Tokenizer
    except ImportError as err:
        raise MissingExtraError(
            "reading token ids needs the tokenizers library", "pip install 'perfpilot[llm]'"
        ) from err
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise UsageError(
            f"no tokenizer.json in {path}",
            "Pass --model-path with the model's Hugging Face folder (config.json, "
            "tokenizer.json, the weights).",
        )
    return Tokenizer.from_file(str(file))


def decode(tokenizer: Any, generations: Sequence[np.ndarray], skip_special: bool) -> list[str]:
    """Each generation's text (the references decode with or without special tokens)."""
    return list(
        tokenizer.decode_batch([g.tolist() for g in generations], skip_special_tokens=skip_special)
    )
