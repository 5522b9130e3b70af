"""Word error rate of Whisper transcripts, as the reference's ``accuracy_eval.py``.

Every record of ``mlperf_log_accuracy.json`` is read as int64 label indices (the
reference's default ``--output_dtype``) and mapped to characters; the reference
transcript of its ``qsl_idx`` likewise. Both go through Whisper's English text
normaliser (the reference imports openai-whisper's; transformers ships the same code,
which takes the British-to-American spelling table as an argument) and are split into
words. Per clip, runs of two or three words written together on the other side
("any one" / "anyone") are first merged into one word, then the word-level edit distance
is taken; WER = edits summed over clips / reference words summed. The reference prints
``Word Error Rate: {wer * 100}%, accuracy={(1 - wer) * 100}%``, the line the submission
checker reads the accuracy from.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfpilot.errors import UsageError
from perfpilot.tasks.common.wer import WerResult, label_pairs, levenshtein
from perfpilot.tasks.speech2text.dataset import labels_to_text

#: sha256 of openai-whisper's normalizers/english.json (1,739 pairs) as canonical JSON
#: (sorted keys, no spaces): the table the reference normalises with.
OFFICIAL_TABLE_SHA256 = "f30d0a1b5484c470b094ad57324dd3529ab628ed6541218039870269dfa33abe"


def table_digest(table: dict[str, str]) -> str:
    """sha256 of a spelling table as canonical JSON."""
    text = json.dumps(table, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def spelling_table(model_folder: Path | None = None) -> tuple[dict[str, str], str]:
    """Whisper's British-to-American spelling table and where it came from: the model
    folder's ``normalizer.json`` (Hugging Face Whisper folders hold it), else the
    installed openai-whisper's ``english.json``; none found gives an empty table."""
    candidates = []
    if model_folder is not None:
        folder = model_folder if model_folder.is_dir() else model_folder.parent
        candidates.append(folder / "normalizer.json")
    spec = importlib.util.find_spec("whisper")  # openai-whisper, not imported (torch)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates.append(Path(location) / "normalizers" / "english.json")
    for path in candidates:
        if path.is_file():
            try:
                table = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise UsageError(f"{path} is not readable JSON ({err})") from err
            if not isinstance(table, dict):
                raise UsageError(f"{path}: expected a JSON object of spellings")
            return {str(k): str(v) for k, v in table.items()}, str(path)
    return {}, ""


def english_normalizer(table: dict[str, str]) -> Callable[[str], str]:
    """Whisper's EnglishTextNormalizer with ``table`` (transformers' copy of it)."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    normalizer: Callable[[str], str] = EnglishTextNormalizer(table)
    return normalizer


def merge_concatenations(ref: Sequence[str], hyp: Sequence[str]) -> tuple[list[str], list[str]]:
    """Both word lists, walked together, with a run of 2-3 words on one side joined into
    one word where it spells the other side's next word ("every one" / "everyone")."""
    ref_out: list[str] = []
    hyp_out: list[str] = []
    i = j = 0
    while i < len(ref) and j < len(hyp):
        take_ref = take_hyp = 1
        if ref[i] != hyp[j]:
            for k in (2, 3):  # the reference tries 1-3; one word alone never differs here
                if i + k <= len(ref) and "".join(ref[i : i + k]) == hyp[j]:
                    take_ref = k
                    break
                if j + k <= len(hyp) and "".join(hyp[j : j + k]) == ref[i]:
                    take_hyp = k
                    break
        ref_out.append("".join(ref[i : i + take_ref]))
        hyp_out.append("".join(hyp[j : j + take_hyp]))
        i += take_ref
        j += take_hyp
    return ref_out + list(ref[i:]), hyp_out + list(hyp[j:])


def word_error_rate(
    hypotheses: Sequence[str], references: Sequence[str], normalize: Callable[[str], str]
) -> tuple[float, int, int]:
    """(wer, word edits, reference words) after ``normalize`` and the concatenation
    merge; ``inf`` when there are no reference words."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: they must pair up"
        )
    edits = words = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        ref_words = normalize(ref).split()
        merged_ref, merged_hyp = merge_concatenations(ref_words, normalize(hyp).split())
        edits += levenshtein(merged_ref, merged_hyp)
        words += len(ref_words)
    return (edits / words if words else float("inf")), edits, words


@dataclass(frozen=True)
class WhisperWer(WerResult):
    """The WER with the spelling table it was normalised with."""

    table: str = ""  # the table's file; "" when none was found
    official_table: bool = False

    def text(self) -> str:
        if not self.table:
            note = "no spelling table found: British spellings not normalised"
        elif self.official_table:
            note = f"spelling table {self.table} (Whisper's english.json)"
        else:
            note = f"spelling table {self.table} (differs from Whisper's english.json)"
        return f"{self.line()}\n# {note}\n"


def score_wer(
    path: Path,
    transcripts: Sequence[str],
    model_folder: Path | None = None,
    dtype: str = "int64",
) -> WhisperWer:
    """Score an accuracy log of Whisper responses against the reference transcripts
    (indexed by QSL index)."""
    hypotheses, references = label_pairs(path, transcripts, dtype, labels_to_text, "clips")
    table, source = spelling_table(model_folder)
    wer, edits, words = word_error_rate(hypotheses, references, english_normalizer(table))
    return WhisperWer(
        wer=wer,
        edits=edits,
        words=words,
        utterances=len(hypotheses),
        table=source,
        official_table=bool(table) and table_digest(table) == OFFICIAL_TABLE_SHA256,
    )


def score_dataset(log: Path, dataset: Any, tokenizer: Path | None = None) -> Any:
    """The task scorer: 100 - WER against the dataset's transcripts; ``tokenizer`` is the
    model folder, whose normalizer.json holds the spelling table."""
    return score_wer(log, dataset.transcripts(), model_folder=tokenizer)
