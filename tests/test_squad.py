"""SQuAD v1.1 for BERT: tokenizer, feature windows, dataset folder and cache, the official
F1 / exact-match logic and the accuracy script on hand-made logits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import UsageError
from perfpilot.tasks.squad.dataset import (
    Example,
    SquadDataset,
    build_features,
    make_synthetic_squad,
    split_document,
)
from perfpilot.tasks.squad.scorer import (
    evaluate,
    exact_match_score,
    f1_score,
    final_text,
    normalize_answer,
    score_squad,
)
from perfpilot.tasks.squad.wordpiece import UNK, WordpieceTokenizer, basic_tokenize

# The regular expression the MLPerf submission checker reads accuracy.txt with.
CHECKER_F1 = re.compile(r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}")


def _tokenizer(*words: str) -> WordpieceTokenizer:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words]
    return WordpieceTokenizer({t: i for i, t in enumerate(vocab)})


# -- tokenizer ---------------------------------------------------------------------------


def test_basic_tokenizer_lowercases_strips_accents_and_splits_punctuation() -> None:
    assert basic_tokenize("Héllo, WORLD!") == ["hello", ",", "world", "!"]
    assert basic_tokenize("don't pay $5.00") == ["don", "'", "t", "pay", "$", "5", ".", "00"]
    assert basic_tokenize("Ångström  naïve\tcafé") == ["angstrom", "naive", "cafe"]


def test_basic_tokenizer_spaces_cjk_and_drops_control_characters() -> None:
    assert basic_tokenize("北京abc") == ["北", "京", "abc"]
    assert basic_tokenize("a\x00b\u200bc d\u00a0e") == ["abc", "d", "e"]  # NBSP is a space


def test_wordpiece_takes_the_longest_match_first() -> None:
    tok = _tokenizer("un", "##aff", "##able", "##want", "##ed", "runn", "##ing", ",")
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tok.tokenize("UNwanted, running") == ["un", "##want", "##ed", ",", "runn", "##ing"]


def test_words_without_a_split_and_overlong_words_are_unknown() -> None:
    tok = _tokenizer("un", "##aff")
    assert tok.tokenize("unaffx un") == [UNK, "un"]  # no piece for "x": the word is [UNK]
    assert tok.tokenize("un" * 51) == [UNK]  # 102 characters
    assert tok.ids(tok.tokenize("zzz un")) == [1, 4]


def test_vocab_file_needs_the_special_tokens(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("[PAD]\nhello\n")
    with pytest.raises(UsageError, match=r"lacks the special token \[UNK\]"):
        WordpieceTokenizer.from_file(tmp_path / "vocab.txt")


# -- features ----------------------------------------------------------------------------


def test_long_paragraphs_become_overlapping_windows_with_max_context() -> None:
    words = [f"w{i}" for i in range(20)]
    tok = _tokenizer("q", *words)
    example = Example("id", "q", tuple(words), ("w3",))
    # 16 tokens: [CLS] q [SEP] + 12 document tokens + [SEP]; stride 4.
    features = build_features([example], tok, max_seq_length=16, doc_stride=4)
    starts = [min(f.token_to_orig.values()) for f in features]
    assert starts == [0, 4, 8]  # the last window reaches the end (word 19)
    assert max(features[-1].token_to_orig.values()) == 19
    first = features[0]
    assert first.tokens[:3] == ["[CLS]", "q", "[SEP]"] and first.tokens[-1] == "[SEP]"
    assert first.segment_ids[:3] == [0, 0, 0] and first.segment_ids[3:16] == [1] * 13
    assert sum(first.input_mask) == 16 and len(first.input_ids) == 16
    # Word 6 sits in windows 0 (6 left, 5 right) and 1 (2 left, 9 right): 0 is its best.
    position = {
        f: next(p for p, w in features[f].token_to_orig.items() if w == 6) for f in range(2)
    }
    assert features[0].max_context[position[0]] is True
    assert features[1].max_context[position[1]] is False


def test_questions_are_cut_to_the_query_length() -> None:
    tok = _tokenizer("q", "d")
    example = Example("id", " ".join(["q"] * 80), ("d",), ("d",))
    (feature,) = build_features([example], tok)
    assert feature.tokens[:2] == ["[CLS]", "q"] and feature.tokens[65] == "[SEP]"
    assert len(feature.input_ids) == 384 and feature.input_ids[68:] == [0] * 316


def test_documents_split_on_whitespace_only() -> None:
    assert split_document(" In 1666,  Fen-holt\u202fwon.\n") == ["In", "1666,", "Fen-holt", "won."]


# -- dataset folder ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def squad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_squad(tmp_path_factory.mktemp("squad"))


def test_synthetic_folder_gives_cached_features(squad_dir: Path) -> None:
    dataset = SquadDataset(squad_dir)
    assert len(dataset.examples) == 24
    assert dataset.total_count > len(dataset.examples)  # the long paragraph has windows
    batch = dataset.samples(np.array([0, 3]))
    assert batch.shape == (2, 3, 384) and batch.dtype == np.int64
    assert (dataset.cache_path() / "meta.json").is_file()
    again = SquadDataset(squad_dir, size=5)  # from the cache: same arrays, first 5
    assert again.total_count == 5 and again.cache_path() == dataset.cache_path()
    assert np.array_equal(again.samples(np.arange(5)), dataset.samples(np.arange(5)))
    info = dataset.feature_info(0)
    assert info.tokens[0] == "[CLS]" and len(info.tokens) == int(batch[0, 1].sum())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "SQuAD file not found"),
        ("{not json", "not valid JSON"),
        ('{"data": [{"title": "x"}]}', "not in SQuAD format"),
        ('{"data": []}', "holds no questions"),
    ],
)
def test_bad_squad_files_are_one_line_errors(
    tmp_path: Path, squad_dir: Path, content: str | None, message: str
) -> None:
    (tmp_path / "vocab.txt").write_bytes((squad_dir / "vocab.txt").read_bytes())
    if content is not None:
        (tmp_path / "dev-v1.1.json").write_text(content)
    with pytest.raises(UsageError, match=message) as err:
        SquadDataset(tmp_path)
    assert "\n" not in err.value.one_line()


def test_missing_vocab_is_named(tmp_path: Path, squad_dir: Path) -> None:
    (tmp_path / "dev-v1.1.json").write_bytes((squad_dir / "dev-v1.1.json").read_bytes())
    with pytest.raises(UsageError, match="vocabulary file not found"):
        SquadDataset(tmp_path)


# -- the official metric -------------------------------------------------------------------


def test_normalisation_and_token_f1_have_the_official_values() -> None:
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert exact_match_score("the Denver Broncos.", "Denver Broncos")
    assert f1_score("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert f1_score("cat", "dog") == 0.0


def test_evaluate_takes_the_best_answer_and_counts_missing_predictions() -> None:
    questions = [("q1", ["Denver Broncos"]), ("q2", ["1990", "in 1990"]), ("q3", ["x"])]
    em, f1, good, total = evaluate(questions, {"q1": "denver broncos", "q2": "1990s"})
    assert (good, total) == (1, 3)
    assert em == pytest.approx(100 / 3) and f1 == pytest.approx(100 / 3)
    _, f1, _, _ = evaluate([("q", ["a big red dog"])], {"q": "red dog barked"})
    assert f1 == pytest.approx(100 * 2 * (2 / 3) * (2 / 3) / (4 / 3))  # p = r = 2/3


def test_final_text_restores_the_original_characters() -> None:
    assert final_text("elvaro", "Élvaro,") == "Élvaro"
    assert final_text("1666", "1666,") == "1666"
    assert final_text("nowhere", "Fenholt") == "Fenholt"  # not found: the whole span


# -- the accuracy script -------------------------------------------------------------------


def _log(path: Path, logits: dict[int, np.ndarray]) -> Path:
    records = [
        {"seq_id": i, "qsl_idx": idx, "data": arr.astype(np.float32).tobytes().hex().upper()}
        for i, (idx, arr) in enumerate(logits.items())
    ]
    path.write_text(json.dumps(records))
    return path


def _answer_logits(dataset: SquadDataset, shift: int = 0) -> dict[int, np.ndarray]:
    """Logits that point every question at its answer's word (``shift`` words later)."""
    out = {}
    for index in range(dataset.total_count):
        info = dataset.feature_info(index)
        example = dataset.examples[info.example_index]
        context = " ".join(example.doc_tokens)
        word = len(context[: context.index(f" {example.answers[0]},")].split()) + shift
        logits = np.zeros((384, 2), np.float32)
        positions = [p for p, w in info.token_to_orig.items() if w == word]
        if positions and info.max_context[positions[0]]:
            logits[positions[0], 0] = 10.0
            logits[positions[-2] if shift == 0 else positions[-1], 1] = 10.0  # no comma
        out[index] = logits
    return out


def test_correct_logits_score_100_in_the_checkers_format(squad_dir: Path, tmp_path: Path) -> None:
    dataset = SquadDataset(squad_dir)
    log = _log(tmp_path / "mlperf_log_accuracy.json", _answer_logits(dataset))
    result = score_squad(log, dataset, dataset.total_count, tmp_path / "predictions.json")
    assert (result.exact_match, result.f1, result.good, result.total) == (100.0, 100.0, 24, 24)
    match = CHECKER_F1.match(result.line())
    assert match is not None and float(match.group(1)) == 100.0
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    assert predictions["synthetic-0-0-0"] == dataset.examples[0].answers[0]


def test_wrong_logits_score_zero_and_a_subset_scores_its_questions(
    squad_dir: Path, tmp_path: Path
) -> None:
    dataset = SquadDataset(squad_dir)
    log = _log(tmp_path / "wrong.json", _answer_logits(dataset, shift=1))  # the name instead
    result = score_squad(log, dataset, dataset.total_count)
    assert (result.exact_match, result.f1) == (0.0, 0.0)
    subset = SquadDataset(squad_dir, size=3)  # the first 3 features: questions 0 and 1 (part)
    right = _answer_logits(subset)
    log = _log(tmp_path / "subset.json", {i: right[i] for i in range(3)})
    result = score_squad(log, subset, subset.total_count)
    assert result.total == len({subset.feature_info(i).example_index for i in range(3)})
    assert result.f1 == 100.0


def test_a_damaged_log_is_a_clear_error(squad_dir: Path, tmp_path: Path) -> None:
    dataset = SquadDataset(squad_dir, size=2)
    log = tmp_path / "log.json"
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 0, "data": "00000000" * 3}]))
    with pytest.raises(UsageError, match="expected pairs of start/end logits"):
        score_squad(log, dataset, dataset.total_count)
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 9, "data": ""}]))
    with pytest.raises(UsageError, match="outside the dataset"):
        score_squad(log, dataset, dataset.total_count)


# -- golden values from the MLPerf reference ---------------------------------------------

# Computed by running the reference's own scripts (language/bert/create_squad_data.py with
# transformers 4.57 BertTokenizer, accuracy-squad.py write_predictions, evaluate_v1.1.py)
# on the corpus below with the logits below: perfpilot must give the same features
# (sha256 of the int64 [169, 3, 384] array) and the same F1.
GOLDEN_FEATURES = 169
GOLDEN_SHA256 = "1dfdf86271f2fe09bff89bb3457669ff836863684c07bf0e0741f91df9951025"
GOLDEN_F1 = 2.7543407935564796
_TRICKY = [
    "Café", "naïve", "don't", "北京", "Tower's", "runners", "running", "ÅNGSTRÖM", "x\u00a0y",
    "a\u202fb", "(1666)", "U.S.A.", "e-mail", "$5.00", "zzzqqq", "Ωmega", "tab\there",
    "ctl\u0007x", "ﬁne", "dé\u0301jà", "——", "“quoted”", "1,234.5",
]  # fmt: skip
_EXTRA = ["don", "t", "café", "cafe", "naive", "北", "京", "##s", "##ing", "run", "the", "of"]
_EXTRA += ["and", "a", "tower", "##er", "##ed", "ab", "##c"]


def _tricky_corpus(folder: Path, synthetic: Path) -> Path:
    import random

    rnd = random.Random(3)
    vocab = [line.strip() for line in (synthetic / "vocab.txt").read_text().splitlines()]
    vocab += [e for e in _EXTRA if e not in vocab]
    words = [w for w in vocab if w.isalpha() and not w.startswith("[")]
    data = []
    for a in range(6):
        paragraphs = []
        for p in range(3):
            tokens = [rnd.choice(words + _TRICKY) for _ in range(rnd.choice([30, 120, 700]))]
            context = " ".join(tokens)
            qas = []
            for q in range(3):
                i = rnd.randrange(len(tokens) - 3)
                answer = " ".join(tokens[i : i + rnd.randint(1, 3)])
                length = rnd.choice([5, 20, 90])
                question = " ".join(rnd.choice(words + _TRICKY) for _ in range(length)) + "?"
                answers = [
                    {"text": answer, "answer_start": context.index(answer)},
                    {"text": tokens[i], "answer_start": 0},
                ]
                qas.append({"id": f"h{a}{p}{q}", "question": question, "answers": answers})
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": str(a), "paragraphs": paragraphs})
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"version": "1.1", "data": data}
    (folder / "dev-v1.1.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return folder


def test_features_and_f1_equal_the_reference_scripts(squad_dir: Path, tmp_path: Path) -> None:
    import hashlib

    dataset = SquadDataset(_tricky_corpus(tmp_path / "tricky", squad_dir))
    assert dataset.total_count == GOLDEN_FEATURES
    features = dataset.samples(np.arange(dataset.total_count))
    assert hashlib.sha256(features.tobytes()).hexdigest() == GOLDEN_SHA256
    logits = np.random.default_rng(1).standard_normal((GOLDEN_FEATURES, 384, 2))
    log = _log(tmp_path / "log.json", dict(enumerate(logits.astype(np.float32))))
    result = score_squad(log, dataset, dataset.total_count)
    assert result.f1 == pytest.approx(GOLDEN_F1, abs=1e-9) and result.total == 54


def test_synthetic_squad_command_writes_a_usable_folder(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    result = run_cli("dataset", "synthetic-squad", str(tmp_path / "sq"), "--articles", "1")
    assert result.returncode == 0, result.stderr
    assert "8 questions" in result.stdout
    dataset = SquadDataset(tmp_path / "sq")
    assert len(dataset.examples) == 8
    tokens = [t for i in range(dataset.total_count) for t in dataset.feature_info(i).tokens]
    assert UNK not in tokens  # the vocabulary covers the text (with WordPiece splits)
    assert "##holt" in tokens or "##water" in tokens or "##var" in tokens
