"""ROUGE as the MLPerf summarisation references compute it (Hugging Face ``evaluate``'s
``rouge`` with ``use_stemmer=True, use_aggregator=False``, which is ``rouge_score``):
texts stripped and split into sentences one per line (NLTK's ``sent_tokenize``, for
ROUGE-Lsum), each pair's F-measures, their mean over samples x100, rounded to 4 places.

The references split sentences with NLTK's trained English Punkt model (``punkt_tab``),
which NLTK downloads; scoring here never downloads. Where that data is installed
(``nltk.download('punkt_tab')`` once, or ``NLTK_DATA``) it is used; otherwise NLTK's Punkt
algorithm without trained abbreviations splits, and the scorer says so: only ROUGE-Lsum
and the character count depend on the split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from perfpilot.errors import MissingExtraError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
#: The sentence splitter the references use.
PUNKT_TAB = "punkt_tab"


def sentence_splitter() -> tuple[str, Callable[[str], list[str]]]:
    """The references' sentence splitter where its data is installed, else Punkt's
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
    return PUNKT_TAB, nltk.sent_tokenize


@dataclass(frozen=True)
class Rouge:
    """Mean ROUGE F-measures in percent (rounded to 4 places), the texts as scored (one
    sentence per line) and the splitter that split them."""

    scores: dict[str, float]
    predictions: list[str]
    splitter: str

    def note(self) -> str:
        """A line for the output where the split is not the references' ("" otherwise)."""
        if self.splitter == PUNKT_TAB:
            return ""
        return (
            "note: NLTK's punkt_tab data is not installed: sentences were split by untrained "
            "Punkt (ROUGE-Lsum may differ slightly from the reference's)\n"
        )


def rouge(predictions: Sequence[str], references: Sequence[str]) -> Rouge:
    """ROUGE-1/2/L/Lsum of paired texts, as the references report it."""
    try:
        from rouge_score import rouge_scorer
    except ImportError as err:
        raise MissingExtraError(
            "ROUGE scoring needs rouge-score", "pip install 'perfpilot[llm]'"
        ) from err
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    name, split = sentence_splitter()
    preds = ["\n".join(split(p.strip())) for p in predictions]
    refs = ["\n".join(split(r.strip())) for r in references]
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    per_sample: dict[str, list[float]] = {k: [] for k in ROUGE_TYPES}
    for pred, ref in zip(preds, refs, strict=True):
        score = scorer.score(ref, pred)
        for key in ROUGE_TYPES:
            per_sample[key].append(score[key].fmeasure)
    # numpy's mean and numpy's rounding, as the references take them (the same last digits)
    scores = {k: float(np.round(np.mean(v) * 100, 4)) if v else 0.0 for k, v in per_sample.items()}
    return Rouge(scores, preds, name)
