"""ROUGE of Llama 3.1 8B summaries, as the reference's ``evaluation.py`` computes it.

Every record of ``mlperf_log_accuracy.json`` (first record per ``qsl_idx``) holds the
generated token ids (int32); they are decoded with the model's tokenizer (special tokens
skipped), stripped and split into sentences one per line, as are the reference
summaries; ROUGE-1/2/L/Lsum F-measures come from ``rouge_score`` with stemming, averaged
over samples, x100, rounded to 4 places. ``gen_len`` is the predictions' total length in
characters and ``gen_num`` their count: the checker gates on ``gen_len`` as well as ROUGE.

The reference splits sentences with NLTK's trained English Punkt model (``punkt_tab``),
which NLTK downloads; scoring here never downloads. Where that data is installed
(``nltk.download('punkt_tab')`` once, or ``NLTK_DATA``) it is used; otherwise NLTK's Punkt
algorithm without trained abbreviations splits, which the output says: only ROUGE-Lsum
depends on the split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.errors import MissingExtraError, UsageError
from perfpilot.tasks.common.accuracy_log import read_accuracy_log

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@dataclass(frozen=True)
class RougeResult:
    """The reference's figures: ROUGE F-measures in percent, and the length gate's."""

    scores: dict[str, float]
    gen_len: int  # characters over all predictions
    gen_num: int
    splitter: str  # "punkt_tab" (the reference's) or "punkt-untrained"

    @property
    def accuracy(self) -> float:
        return self.scores["rouge1"]

    @property
    def good(self) -> int:
        return self.gen_num

    @property
    def total(self) -> int:
        return self.gen_num

    def line(self) -> str:
        # evaluation.py prints ROUGE as strings and the counts as integers
        fields = {k: f"{v}" for k, v in self.scores.items()}
        return str({**fields, "gen_len": self.gen_len, "gen_num": self.gen_num})

    def text(self) -> str:
        note = ""
        if self.splitter != "punkt_tab":
            note = (
                "note: NLTK's punkt_tab data is not installed: sentences were split by "
                "untrained Punkt (ROUGE-Lsum may differ slightly from the reference's)\n"
            )
        return f"{note}\nResults\n\n{self.line()}\n"


def sentence_splitter() -> tuple[str, Callable[[str], list[str]]]:
    """The reference's sentence splitter where its data is installed, else Punkt's
    algorithm without training data (no download either way)."""
    try:
        import nltk
        from nltk.tokenize.punkt import PunktSentenceTokenizer
    except ImportError as err:
        raise MissingExtraError(
            "ROUGE scoring needs nltk and rouge-score", "pip install 'perfpilot[llm]'"
        ) from err
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        return "punkt-untrained", PunktSentenceTokenizer().tokenize
    return "punkt_tab", nltk.sent_tokenize


def rouge(predictions: Sequence[str], references: Sequence[str]) -> RougeResult:
    """ROUGE as ``evaluation.py`` reports it, for paired texts."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    name, split = sentence_splitter()

    def lines(text: str) -> str:
        return "\n".join(split(text.strip()))

    preds = [lines(p) for p in predictions]
    refs = [lines(r) for r in references]
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for pred, ref in zip(preds, refs, strict=True):
        score = scorer.score(ref, pred)
        for key in ROUGE_TYPES:
            totals[key] += score[key].fmeasure
    n = max(len(preds), 1)
    scores = {key: round(totals[key] / n * 100, 4) for key in ROUGE_TYPES}
    return RougeResult(scores, sum(len(p) for p in preds), len(preds), name)


def read_generations(log: Path) -> dict[int, np.ndarray]:
    """Each sample's generated token ids, first record per ``qsl_idx`` (as the reference
    deduplicates)."""
    out: dict[int, np.ndarray] = {}
    for record in read_accuracy_log(log):
        if not isinstance(record, dict) or "qsl_idx" not in record or "data" not in record:
            raise UsageError(f"{log}: a record lacks qsl_idx or data")
        index = int(record["qsl_idx"])  # type: ignore[call-overload]
        if index not in out:
            out[index] = np.frombuffer(bytes.fromhex(str(record["data"])), dtype="<i4")
    return out


def load_tokenizer(path: Path | None) -> Any:
    """The ``tokenizers`` tokenizer in ``path`` (a tokenizer.json, or a model folder
    holding one)."""
    if path is None:
        raise UsageError(
            "ROUGE needs the model's tokenizer to read the generated token ids",
            "Pass --model-path with the model's Hugging Face folder (it holds tokenizer.json).",
        )
    from tokenizers import Tokenizer

    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise UsageError(
            f"no tokenizer.json in {path}",
            "Pass --model-path with the model's Hugging Face folder (config.json, "
            "tokenizer.json, the weights).",
        )
    return Tokenizer.from_file(str(file))


def score_dataset(log: Path, dataset: Any, tokenizer: Path | None = None) -> RougeResult:
    """Decode every generation with the model's tokenizer and score it against the
    dataset's reference summaries."""
    tok = load_tokenizer(tokenizer)
    generations = read_generations(log)
    references = dataset.references()
    for index in generations:
        if not 0 <= index < len(references):
            raise UsageError(
                f"{log}: qsl_idx {index} is outside the dataset ({len(references)} samples)",
                "Score the log with the dataset it was run on.",
            )
    order = sorted(generations)
    texts = tok.decode_batch([generations[i].tolist() for i in order], skip_special_tokens=True)
    return rouge(texts, [references[i] for i in order])
