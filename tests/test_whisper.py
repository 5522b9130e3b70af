"""Whisper large-v3 speech to text: the reference's WER script (normaliser, concatenation
merge, printed line), the dataset folder's layout, and one accuracy run of the stand-in
on the transformers backend."""

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from perfpilot.backends.registry import BACKENDS
from perfpilot.errors import UsageError
from perfpilot.tasks import get_task
from perfpilot.tasks.speech2text.dataset import (
    MANIFEST,
    WAV_DIR,
    labels_to_text,
    make_synthetic,
    text_to_labels,
)
from perfpilot.tasks.speech2text.scorer import (
    english_normalizer,
    merge_concatenations,
    score_wer,
    word_error_rate,
)
from tests.conftest import run_cli

pytest.importorskip("transformers")


def _log(path: Path, answers: list[str]) -> Path:
    """An accuracy log whose responses are ``answers`` as the reference SUT logs them."""
    records = [
        {"seq_id": i, "qsl_idx": i, "data": text_to_labels(a.lower().strip()).tobytes().hex()}
        for i, a in enumerate(answers)
    ]
    path.write_text(json.dumps(records))
    return path


def test_wer_normalises_merges_and_prints_the_reference_line(tmp_path: Path) -> None:
    (tmp_path / "normalizer.json").write_text(json.dumps({"colour": "color", "grey": "gray"}))
    references = [
        "mister quilter is the apostle of the middle classes",  # 9 words
        "every one of them",  # 4
        "the colour grey",  # 3
        "a b c d",  # 4
    ]
    answers = [
        " Mr. Quilter is the apostle of the middle classes.",  # "mr" -> "mister": 0 edits
        "Everyone of them",  # merged with "every one": 0 edits
        "The color gray",  # the spelling table: 0 edits
        "a x c",  # one substitution, one deletion
    ]
    score = score_wer(_log(tmp_path / "log.json", answers), references, model_folder=tmp_path)
    assert (score.edits, score.words, score.utterances) == (2, 20, 4)
    assert score.line() == "Word Error Rate: 10.0%, accuracy=90.0%"
    assert score.accuracy == pytest.approx(90.0)
    assert "differs from Whisper's english.json" in score.text()
    # without the table, British spellings count as errors
    alone = score_wer(tmp_path / "log.json", references, model_folder=tmp_path / "none")
    assert alone.edits in (2, 4) and (alone.edits == 2) == bool(alone.table)
    # numbers in words and digits meet as digits; words are counted after normalising
    normalize = english_normalizer({})
    assert word_error_rate(["Chapter 21."], ["chapter twenty one"], normalize) == (0.0, 0, 2)


def test_concatenations_merge_as_the_reference_walks_them() -> None:
    assert merge_concatenations(["any", "one", "came"], ["anyone", "came"]) == (
        ["anyone", "came"],
        ["anyone", "came"],
    )
    # a hypothesis split where the reference is one word; three words at most
    assert merge_concatenations(["nevertheless"], ["never", "the", "less"]) == (
        ["nevertheless"],
        ["nevertheless"],
    )
    assert merge_concatenations(["a", "b"], ["x", "a", "b"]) == (["a", "b"], ["x", "a", "b"])
    assert (
        labels_to_text(text_to_labels("it's 10% off, $5+tax-free!")) == "it's 10% off $5+tax-free"
    )


def _wav(path: Path, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(np.zeros(rate // 10, dtype="<i2").tobytes())


def test_dataset_layout_and_its_errors(tmp_path: Path) -> None:
    task = get_task("speech2text")
    folder = make_synthetic(tmp_path / "data", count=3, seed=1)
    dataset = task.load_dataset(folder)
    assert dataset.total_count == 3  # the clip over 30 s is dropped, as the reference does
    waves = dataset.samples(np.array([2, 0]))
    assert waves[0].dtype == np.float32 and 16000 <= len(waves[0]) <= 4 * 16000
    # a manifest written elsewhere (absolute names) still finds its clips by file name
    entries = json.loads((folder / MANIFEST).read_text())
    for entry in entries:
        entry["files"][0]["fname"] = "/data/" + entry["files"][0]["fname"]
    (folder / MANIFEST).write_text(json.dumps(entries))
    assert task.load_dataset(folder, 2).total_count == 2

    with pytest.raises(UsageError, match="dataset folder not found"):
        task.load_dataset(tmp_path / "missing")
    with pytest.raises(UsageError, match=f"has no {MANIFEST}"):
        task.load_dataset(tmp_path)
    (folder / MANIFEST).write_text(json.dumps([{"transcript": "x", "files": []}]))
    with pytest.raises(UsageError, match="entry 0 lacks transcript, original_duration"):
        task.load_dataset(folder)
    entries[0]["files"][0]["fname"] = "gone.wav"
    (folder / MANIFEST).write_text(json.dumps(entries))
    with pytest.raises(UsageError, match=r"wav file listed in .* not found: gone\.wav"):
        task.load_dataset(folder)
    entries[0]["files"][0]["fname"] = f"{WAV_DIR}/8k.wav"
    (folder / MANIFEST).write_text(json.dumps(entries))
    _wav(folder / WAV_DIR / "8k.wav", rate=8000)
    with pytest.raises(UsageError, match="8000 Hz 16-bit; Whisper's reference reads 16 kHz"):
        task.load_dataset(folder).samples(np.array([0]))


@pytest.mark.slow
@pytest.mark.skipif("transformers" not in BACKENDS, reason="no transformers backend yet")
def test_standin_accuracy_run_on_the_transformers_backend(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = run_cli("dataset", "synthetic-speech2text", str(data), "--count", "3")
    assert out.returncode == 0, out.stderr
    out = run_cli(
        "--workspace", str(tmp_path / "ws"), "run", "--model", "whisper-standin",
        "--backend", "transformers", "--scenario", "Offline", "--mode", "accuracy",
        "--dataset-path", str(data), "--backend-option", "max_new_tokens=12", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (rec,) = json.loads(out.stdout)
    assert rec["accuracy"]["metric"] == "100-WER" and rec["accuracy"]["target"] is None
    run_dir = Path(rec["run_dir"])
    line = (run_dir / "accuracy.txt").read_text().splitlines()[0]
    assert line.startswith("Word Error Rate: ") and ", accuracy=" in line
    logged = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    assert sorted(r["qsl_idx"] for r in logged) == [0, 1, 2]
    # LoadGen logged label indices (int64), each a character of the 42 labels
    for record in logged:
        labels = np.frombuffer(bytes.fromhex(record["data"]), dtype="<i8")
        assert ((labels >= 0) & (labels < 42)).all()
    shutil.rmtree(data)
