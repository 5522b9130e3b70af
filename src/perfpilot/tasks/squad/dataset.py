"""SQuAD v1.1 dev for BERT: examples read from a user's folder (``dev-v1.1.json`` +
``vocab.txt``), the reference feature building, its cache, and a synthetic folder.

Features follow the MLPerf reference (``create_squad_data.convert_examples_to_features``
with ``max_seq_length`` 384, ``doc_stride`` 128, ``max_query_length`` 64): ``[CLS]``
question ``[SEP]`` document window ``[SEP]``, zero-padded; a long paragraph gives several
overlapping windows, and each document token remembers its source word and whether this
window is its "max context" one. The full dev set gives 10,833 features (QSL samples).

``--dataset-size N`` keeps the first N *features*, as the reference QSL's
``total_count_override`` does; accuracy is then scored over the questions those features
come from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import atomic_write_text, cache_dir
from perfpilot.artifacts.derived import build_once
from perfpilot.errors import UsageError
from perfpilot.tasks.squad.wordpiece import CLS, SEP, WordpieceTokenizer
from perfpilot.tasks.squad.wordpiece import SPEC as TOKENIZER_SPEC
from perfpilot.userfiles import load_json

DEV_FILE = "dev-v1.1.json"
VOCAB_FILE = "vocab.txt"
MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
FEATURE_SPEC = (
    f"squad-v1.1-features/seq-{MAX_SEQ_LENGTH}/stride-{DOC_STRIDE}/query-{MAX_QUERY_LENGTH}/"
    f"{TOKENIZER_SPEC}/v1"
)
#: The model inputs, in the order samples stack them: ids, mask, segment ids.
INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
FIRST_UNIQUE_ID = 1000000000


def _squad_whitespace(char: str) -> bool:
    # The reference's read_squad_examples splits on these (not on every Unicode space).
    return char in (" ", "\t", "\r", "\n") or ord(char) == 0x202F


def split_document(text: str) -> list[str]:
    """A paragraph's words as the reference splits them (on whitespace only)."""
    words: list[str] = []
    previous_space = True
    for char in text:
        if _squad_whitespace(char):
            previous_space = True
            continue
        if previous_space:
            words.append(char)
        else:
            words[-1] += char
        previous_space = False
    return words


@dataclass(frozen=True)
class Example:
    """One question with its paragraph's words and the accepted answers."""

    qas_id: str
    question: str
    doc_tokens: tuple[str, ...]
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Feature:
    """One model input window and what maps it back to its example's words."""

    example_index: int
    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int]
    tokens: list[str]
    token_to_orig: dict[int, int]
    max_context: dict[int, bool]


def read_examples(path: Path) -> list[Example]:
    """The questions of a SQuAD v1.1 JSON file, in file order."""
    if not path.is_file():
        raise UsageError(
            f"SQuAD file not found: {path}",
            f"Put the SQuAD v1.1 dev set there as {DEV_FILE} "
            "('perfpilot dataset synthetic-squad DIR' makes a stand-in).",
        )
    doc = load_json(
        path, "SQuAD file", hint="The file is damaged or truncated; re-download dev-v1.1.json."
    )
    examples: list[Example] = []
    try:
        for article in doc["data"]:
            for paragraph in article["paragraphs"]:
                words = tuple(split_document(str(paragraph["context"])))
                for qa in paragraph["qas"]:
                    answers = tuple(str(a["text"]) for a in qa["answers"])
                    examples.append(Example(str(qa["id"]), str(qa["question"]), words, answers))
    except (KeyError, TypeError) as err:
        raise UsageError(
            f"{path} is not in SQuAD format (data[].paragraphs[].context/qas[] expected; "
            f"problem near {len(examples)} questions read: {type(err).__name__} {err})",
            "Use the official dev-v1.1.json.",
        ) from err
    if not examples:
        raise UsageError(f"{path} holds no questions", "Use the official dev-v1.1.json.")
    return examples


def _is_max_context(spans: list[tuple[int, int]], current: int, position: int) -> bool:
    """Whether window ``current`` gives token ``position`` its most balanced context."""
    best_score, best = -1.0, -1
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if score > best_score:
            best_score, best = score, index
    return best == current


def build_features(
    examples: list[Example],
    tokenizer: WordpieceTokenizer,
    max_seq_length: int = MAX_SEQ_LENGTH,
    doc_stride: int = DOC_STRIDE,
    max_query_length: int = MAX_QUERY_LENGTH,
) -> list[Feature]:
    """Every example's windows, in order (the reference's evaluation features)."""
    features: list[Feature] = []
    word_cache: dict[tuple[str, ...], tuple[list[int], list[str]]] = {}
    for example_index, example in enumerate(examples):
        query = tokenizer.tokenize(example.question)[:max_query_length]
        cached = word_cache.get(example.doc_tokens)
        if cached is None:  # the questions of one paragraph share its tokens
            tok_to_orig: list[int] = []
            doc_pieces: list[str] = []
            for i, word in enumerate(example.doc_tokens):
                for piece in tokenizer.tokenize(word):
                    tok_to_orig.append(i)
                    doc_pieces.append(piece)
            cached = word_cache[example.doc_tokens] = (tok_to_orig, doc_pieces)
        tok_to_orig, doc_pieces = cached
        room = max_seq_length - len(query) - 3
        spans: list[tuple[int, int]] = []
        start = 0
        while start < len(doc_pieces):
            length = min(len(doc_pieces) - start, room)
            spans.append((start, length))
            if start + length == len(doc_pieces):
                break
            start += min(length, doc_stride)
        for span_index, (span_start, span_length) in enumerate(spans):
            tokens = [CLS, *query, SEP]
            segment = [0] * len(tokens)
            to_orig: dict[int, int] = {}
            max_ctx: dict[int, bool] = {}
            for i in range(span_length):
                position = span_start + i
                to_orig[len(tokens)] = tok_to_orig[position]
                max_ctx[len(tokens)] = _is_max_context(spans, span_index, position)
                tokens.append(doc_pieces[position])
                segment.append(1)
            tokens.append(SEP)
            segment.append(1)
            ids = tokenizer.ids(tokens)
            pad = max_seq_length - len(ids)
            features.append(
                Feature(
                    example_index=example_index,
                    input_ids=ids + [0] * pad,
                    input_mask=[1] * len(ids) + [0] * pad,
                    segment_ids=segment + [0] * pad,
                    tokens=tokens,
                    token_to_orig=to_orig,
                    max_context=max_ctx,
                )
            )
    return features


def _feature_meta(feature: Feature) -> dict[str, Any]:
    # Windows are contiguous: the first document position and the word of each token
    # suffice; tokens come back from the ids through the vocabulary.
    positions = sorted(feature.token_to_orig)
    return {
        "example": feature.example_index,
        "length": len(feature.tokens),
        "doc_start": positions[0] if positions else len(feature.tokens) - 1,
        "orig": [feature.token_to_orig[p] for p in positions],
        "max_context": "".join("1" if feature.max_context[p] else "0" for p in positions),
    }


@dataclass(frozen=True)
class FeatureInfo:
    """What scoring needs of one feature (kept in the cache beside the arrays)."""

    example_index: int
    tokens: list[str]
    token_to_orig: dict[int, int]
    max_context: dict[int, bool]


class SquadDataset:
    """Features of a user's SQuAD folder, built once and cached under a key of (dataset
    identity, tokenization spec); the first ``size`` features when given."""

    name = "squad-v1.1-dev"

    def __init__(self, folder: Path, size: int | None = None) -> None:
        self.folder = folder.expanduser().absolute()
        if not self.folder.is_dir():
            raise UsageError(f"dataset folder not found: {self.folder}", "Check --dataset-path.")
        self.dev_path, self.vocab_path = self.folder / DEV_FILE, self.folder / VOCAB_FILE
        if size is not None and size < 1:
            raise UsageError(f"invalid dataset size {size}: must be at least 1")
        self.examples = read_examples(self.dev_path)
        self.tokenizer = WordpieceTokenizer.from_file(self.vocab_path)
        h = hashlib.sha256(b"squad-v1.1-dev\0")
        h.update(hashlib.sha256(self.dev_path.read_bytes()).digest())
        h.update(hashlib.sha256(self.vocab_path.read_bytes()).digest())
        self._sha = h.hexdigest()
        self._data: np.ndarray
        self._meta: list[dict[str, Any]]
        self._load()
        if size is not None:
            self._data = self._data[:size]
            self._meta = self._meta[:size]
        self.total_count = len(self._meta)
        # The reference QSL keeps every feature in memory (performance_sample_count 10833).
        self.performance_count = self.total_count

    def sha256(self) -> str:
        return self._sha

    def cache_path(self) -> Path:
        key = hashlib.sha256(f"{self._sha}\0{FEATURE_SPEC}".encode()).hexdigest()[:32]
        return cache_dir() / "preprocessed" / "squad" / key

    def _load(self) -> None:
        def build(tmp: Path) -> dict[str, Any]:
            features = build_features(self.examples, self.tokenizer)
            if not features:
                raise UsageError(f"{self.dev_path} gives no features", "Check the file.")
            arrays = np.array(
                [[f.input_ids, f.input_mask, f.segment_ids] for f in features], np.int64
            )
            np.save(tmp / "data.npy", arrays)
            (tmp / "features.json").write_text(json.dumps([_feature_meta(f) for f in features]))
            return {"count": len(features), "folder": str(self.folder)}

        made = build_once(
            self.cache_path(),
            "data.npy",
            build,
            artifact="squad-features",
            key={"dataset_sha256": self._sha, "spec": FEATURE_SPEC},
            verify=False,
            manifest="meta.json",
        )
        self._data = np.load(made.path, mmap_mode="r")
        self._meta = json.loads((made.path.parent / "features.json").read_text())

    def samples(self, indices: np.ndarray) -> np.ndarray:
        """Features as int64 [n, 3, 384]: input_ids, input_mask, segment_ids."""
        out: np.ndarray = np.ascontiguousarray(self._data[np.asarray(indices)])
        return out

    def labels(self) -> np.ndarray:
        """The example (question) index of each feature."""
        return np.array([m["example"] for m in self._meta], dtype=np.int64)

    def feature_info(self, index: int) -> FeatureInfo:
        meta = self._meta[index]
        ids = self._data[index, 0, : meta["length"]]
        tokens = [self.tokenizer.inverse.get(int(i), "[UNK]") for i in ids]
        start = int(meta["doc_start"])
        orig = meta["orig"]
        flags = meta["max_context"]
        return FeatureInfo(
            example_index=int(meta["example"]),
            tokens=tokens,
            token_to_orig={start + i: int(o) for i, o in enumerate(orig)},
            max_context={start + i: flags[i] == "1" for i in range(len(orig))},
        )


_WORDS = (
    "the river valley city north south ancient empire king queen built bridge castle "
    "tower museum library university students science music theatre opera painter "
    "composer railway station harbour island mountain forest lake winter summer rain "
    "snow festival market trade merchants silver gold copper coins treaty war peace "
    "council parliament election reform century year population village farmers wheat "
    "barley vineyard wine cathedral bishop monastery monks manuscript printing press "
    "newspaper engineer steam engine factory workers union strike harbor lighthouse"
).split()
_NAMES = ("Aldora", "Brenmoor", "Castellan", "Dunwick", "Elvaro", "Fenholt", "Graywater")


def make_synthetic_squad(folder: Path, articles: int = 3, seed: int = 0) -> Path:
    """Write a small SQuAD v1.1-format ``dev-v1.1.json`` and a ``vocab.txt`` covering it.

    Paragraphs are random sentences about invented places (with punctuation, numbers,
    accented names and one paragraph long enough to need several 384-token windows);
    each question's answer is a span of its paragraph. Accuracy on it means nothing: it
    exists to run the BERT pipeline without the real dataset.
    """
    rng = np.random.default_rng(seed)
    data = []
    for a in range(articles):
        paragraphs = []
        for p in range(2):
            long = a == 0 and p == 0
            sentences = []
            facts: list[tuple[str, str]] = []
            for _ in range(60 if long else 6):
                name = _NAMES[int(rng.integers(len(_NAMES)))]
                year = str(int(rng.integers(1100, 1990)))
                words = [str(w) for w in rng.choice(_WORDS, size=int(rng.integers(6, 12)))]
                sentences.append(f"In {year}, {name} {' '.join(words)}.")
                facts.append((name, year))
            context = " ".join(sentences).replace("Elvaro", "Élvaro")
            qas = []
            for q, (name, year) in enumerate(facts[:4]):
                shown = "Élvaro" if name == "Elvaro" else name
                start = context.index(f"In {year}, {shown}") + 3
                qas.append(
                    {
                        "id": f"synthetic-{a}-{p}-{q}",
                        "question": f"In which year did {shown} appear?",
                        "answers": [{"answer_start": start, "text": year}],
                    }
                )
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": f"Synthetic_{a}", "paragraphs": paragraphs})
    doc = {"version": "1.1", "data": data}
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", *(f"[unused{i}]" for i in range(4)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    vocab += [str(d) for d in range(10)] + [f"##{d}" for d in range(10)]
    vocab += ["in", "which", "year", "did", "appear", *sorted(set(_WORDS))]
    vocab += [n.lower() for n in _NAMES[:4]]  # the others split into pieces
    vocab += ["fen", "##holt", "gray", "##water", "el", "##var", "##o"]
    vocab += [str(y) for y in range(1100, 1990, 7)]  # some years whole, the rest in pieces
    seen: set[str] = set()
    unique = [t for t in vocab if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]
    atomic_write_text(folder / DEV_FILE, json.dumps(doc, ensure_ascii=False) + "\n")
    atomic_write_text(folder / VOCAB_FILE, "\n".join(unique) + "\n")
    return folder
