"""RNN-T on LibriSpeech: the reference's wav folder and manifest, transcript normalisation,
log-mel features against an independent numpy computation, WER on hand-made strings, the
checkpoint layout, greedy decoding, and the pipeline through the CLI on the stand-in."""

from __future__ import annotations

import json
import math
import wave
from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import ModelFileError, UsageError
from perfpilot.tasks.librispeech.dataset import (
    BLANK,
    LABELS,
    MANIFEST,
    LibriSpeechDataset,
    labels_to_text,
    make_synthetic_librispeech,
    mel_filterbank,
    normalize_transcript,
    read_wav,
    text_to_labels,
)
from perfpilot.tasks.librispeech.scorer import levenshtein, score_wer, word_error_rate
from tests.conftest import TORCH_LOADER, need_backend, run_cli


def _wav(path: Path, pcm: np.ndarray, rate: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(channels)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(np.asarray(pcm, "<i2").tobytes())
    return path


def _entry(fname: str, seconds: float, transcript: str, speed: float = 1) -> dict[str, object]:
    n = int(seconds * 16000)
    return {
        "files": [{"fname": fname, "speed": speed, "duration": seconds, "num_samples": n}],
        "original_duration": seconds,
        "original_num_samples": n,
        "transcript": transcript,
    }


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_librispeech(tmp_path_factory.mktemp("ls") / "librispeech", count=3)


# -- reader -------------------------------------------------------------------------------


def test_read_wav_scales_like_soundfile_and_averages_channels(tmp_path: Path) -> None:
    mono = read_wav(_wav(tmp_path / "m.wav", np.array([0, 16384, -32768, 32767])))
    assert mono.dtype == np.float32
    np.testing.assert_array_equal(mono, [0.0, 0.5, -1.0, 32767 / 32768])
    stereo = read_wav(_wav(tmp_path / "s.wav", np.array([16384, 0, -16384, -16384]), channels=2))
    np.testing.assert_array_equal(stereo, [0.25, -0.5])
    with pytest.raises(UsageError, match="8000 Hz"):
        read_wav(_wav(tmp_path / "r.wav", np.zeros(10), rate=8000))
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really")
    with pytest.raises(UsageError, match="PCM wav"):
        read_wav(tmp_path / "bad.wav")


def test_manifest_order_filter_and_transcripts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        _wav(tmp_path / "dev-clean-wav" / f"{name}.wav", rng.integers(-99, 99, 800))
    entries = [
        _entry("dev-clean-wav/b.wav", 6.59, "HE WAS IN A FEVERED STATE"),
        _entry("dev-clean-wav/a.wav", 15.01, "DROPPED FOR BEING TOO LONG"),
        _entry("dev-clean-wav/c.wav", 15.0, "Mr. Smith's 2nd dog, born 1984!"),
    ]
    (tmp_path / MANIFEST).write_text(json.dumps(entries))
    ds = LibriSpeechDataset(tmp_path)
    assert ds.total_count == ds.performance_count == 2  # > 15 s is dropped, = 15 s kept
    assert ds.transcripts() == [
        "he was in a fevered state",
        "mister smith's second dog born nineteen eighty-four".replace("-", " "),
    ]
    samples = ds.samples(np.array([1, 0, 1]))
    assert samples.dtype == object and [len(s) for s in samples] == [800, 800, 800]
    np.testing.assert_array_equal(samples[1], read_wav(tmp_path / "dev-clean-wav" / "b.wav"))
    assert LibriSpeechDataset(tmp_path, size=1).transcripts() == ["he was in a fevered state"]
    before = ds.sha256()
    _wav(tmp_path / "dev-clean-wav" / "c.wav", rng.integers(-99, 99, 801))
    assert LibriSpeechDataset(tmp_path).sha256() != before


def test_reader_errors_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no dev-clean-wav\.json"):
        LibriSpeechDataset(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps([{"files": []}]))
    with pytest.raises(UsageError, match="entry 0 lacks"):
        LibriSpeechDataset(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps([_entry("dev-clean-wav/x.wav", 1.0, "hi")]))
    with pytest.raises(UsageError, match="not found"):
        LibriSpeechDataset(tmp_path)


def test_normalisation_matches_the_reference_cleaners() -> None:
    assert (
        normalize_transcript("  Dr. Who & Co. +  friends ") == "doctor who and company plus friends"
    )
    assert (
        normalize_transcript("Café — naïve; it's 9:05") == "cafe naive it's nine zero five"
    )  # 05: digit by digit
    assert normalize_transcript("$3.50 and 007 in 2005, 1900, 123") == (
        "three dollars fifty cents and zero zero seven in two thousand five nineteen "
        "hundred one hundred twenty three"
    )
    assert normalize_transcript("the 21st of 1,234,567") == (
        "the twenty first of one million two hundred thirty four thousand five hundred sixty seven"
    )
    assert text_to_labels("a b'z") == [1, 0, 2, 27, 26]
    assert labels_to_text([1, 0, 2, 27, 26, BLANK]) == "a b'z"
    assert len(LABELS) == 28 and LABELS[0] == " " and LABELS[-1] == "'"


# -- features -----------------------------------------------------------------------------


def _slaney_mel_independent(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney's mel scale written out point by point (not vectorised like the module)."""

    def to_mel(f: float) -> float:
        return f * 3 / 200 if f < 1000 else 15 + math.log(f / 1000) * 27 / math.log(6.4)

    def to_hz(m: float) -> float:
        return m * 200 / 3 if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27)

    top = to_mel(sr / 2)
    centres = [to_hz(top * i / (n_mels + 1)) for i in range(n_mels + 2)]
    out = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        lo, mid, hi = centres[m], centres[m + 1], centres[m + 2]
        for k in range(n_fft // 2 + 1):
            f = k * sr / n_fft
            if lo < f <= mid:
                out[m, k] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                out[m, k] = (hi - f) / (hi - mid)
        out[m] *= 2 / (hi - lo)
    return out


def _features_independent(wav: np.ndarray) -> np.ndarray:
    """rnnt.toml's log-mel features in float64 numpy with an explicit DFT per frame."""
    x = wav.astype(np.float64)
    x = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    padded = np.pad(x, 256, mode="reflect")
    n = np.arange(320)
    window = np.zeros(512)
    window[96 : 96 + 320] = 0.5 - 0.5 * np.cos(2 * np.pi * n / 319)
    frames = 1 + len(x) // 160
    fb = _slaney_mel_independent(16000, 512, 80)
    logmel = np.empty((80, frames))
    for t in range(frames):
        spectrum = np.fft.rfft(padded[t * 160 : t * 160 + 512] * window)
        logmel[:, t] = np.log(fb @ (np.abs(spectrum) ** 2 + 1e-10) + 1e-20)
    spliced = np.zeros((240, frames))
    for n_shift in range(3):
        spliced[80 * n_shift : 80 * (n_shift + 1), : frames - n_shift] = logmel[:, n_shift:]
    spliced = spliced[:, ::3]
    keep = math.ceil(math.ceil(len(x) / 160) / 3)
    mean = spliced[:, :keep].mean(axis=1, keepdims=True)
    std = spliced[:, :keep].std(axis=1, ddof=1, keepdims=True) + 1e-5
    return ((spliced - mean) / std)[:, :keep]


def test_mel_filterbank_matches_independent_slaney() -> None:
    fb = mel_filterbank()
    assert fb.shape == (80, 257) and fb.dtype == np.float32
    np.testing.assert_allclose(fb, _slaney_mel_independent(16000, 512, 80), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("samples", [16000, 7777, 480 * 3 + 1])
def test_features_match_independent_computation(samples: int) -> None:
    torch = pytest.importorskip("torch")
    from perfpilot.tasks.librispeech.torch_net import Featurizer

    rng = np.random.default_rng(samples)
    t = np.arange(samples) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(samples)).astype(
        np.float32
    )
    got, frames = Featurizer()(torch.from_numpy(wav)[None], torch.tensor([samples]))
    expected = _features_independent(wav)
    assert int(frames[0]) == expected.shape[1] and got.shape == (1, 240, expected.shape[1])
    np.testing.assert_allclose(got[0].numpy(), expected, atol=2e-3, rtol=1e-3)


# -- WER ----------------------------------------------------------------------------------


def test_wer_on_hand_made_strings() -> None:
    assert levenshtein("a b c".split(), "a x c d".split()) == 2
    wer, edits, words = word_error_rate(
        ["the cat sat", "a dog barked loudly", ""], ["the cat sat on", "the dog barked", "hi"]
    )
    # deletion "on"; substitution a->the and insertion "loudly"; deletion "hi"
    assert (edits, words) == (4, 8) and wer == pytest.approx(0.5)
    assert word_error_rate(["x"], [""])[0] == float("inf")
    with pytest.raises(ValueError, match="pair up"):
        word_error_rate(["a"], [])


def _log(path: Path, rows: list[tuple[int, list[int]]], dtype: str = "<i8") -> Path:
    records = [
        {"seq_id": k, "qsl_idx": idx, "data": np.asarray(lab, dtype).tobytes().hex().upper()}
        for k, (idx, lab) in enumerate(rows)
    ]
    path.write_text(json.dumps(records))
    return path


def test_score_wer_reads_int64_responses(tmp_path: Path) -> None:
    refs = ["he was here", "so it goes"]
    log = _log(tmp_path / "acc.json", [(1, text_to_labels("so it go")), (0, [])])
    result = score_wer(log, refs)
    assert (result.edits, result.words, result.utterances) == (4, 6, 2)
    assert result.line() == f"Word Error Rate: {4 / 6 * 100}%, accuracy={(1 - 4 / 6) * 100}%"
    perfect = score_wer(_log(tmp_path / "p.json", [(0, text_to_labels(refs[0]))]), refs)
    assert perfect.line() == "Word Error Rate: 0.0%, accuracy=100.0%" and perfect.accuracy == 100
    as_int32 = _log(tmp_path / "i.json", [(0, text_to_labels(refs[0]))], "<i4")
    assert score_wer(as_int32, refs, dtype="int32").wer == 0.0
    with pytest.raises(UsageError, match="outside the dataset"):
        score_wer(_log(tmp_path / "o.json", [(5, [1])]), refs)


# -- checkpoint and decoding -------------------------------------------------------------


def test_standin_checkpoint_has_the_official_layout_and_round_trips(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from perfpilot.tasks.librispeech import torch_net as rnnt_net

    path = tmp_path / "rnnt.pt"
    path.write_bytes(rnnt_net.standin_checkpoint_bytes())
    saved = torch.load(str(path), weights_only=True)
    state = saved["state_dict"]
    assert saved["epoch"] == 100
    assert state["audio_preprocessor.featurizer.fb"].shape == (1, 80, 257)
    assert state["audio_preprocessor.featurizer.window"].shape == (320,)
    assert state["prediction.embed.weight"].shape == (28, 32)  # no embedding for the blank
    assert state["joint_net.3.weight"].shape == (29, 32)
    assert {k for k in state if k.startswith("encoder.post_rnn.lstm.weight_ih_l")} == {
        f"encoder.post_rnn.lstm.weight_ih_l{i}" for i in range(3)
    }
    assert state["encoder.post_rnn.lstm.weight_ih_l0"].shape[1] == 2 * 48  # time stacking 2
    net = rnnt_net.load_rnnt(path)
    assert net is not None and net.model.size == rnnt_net.TINY
    loaded = net.model.state_dict()
    for key, value in state.items():
        if not key.startswith("audio_preprocessor."):
            assert torch.equal(loaded[key.replace("joint_net.", "joint.net.")], value), key
    # A DistributedDataParallel "module." prefix and already-migrated names load too.
    renamed = {f"module.{k.replace('joint_net.', 'joint.net.')}": v for k, v in state.items()}
    torch.save({"state_dict": renamed}, tmp_path / "ddp.pt")
    assert rnnt_net.load_rnnt(tmp_path / "ddp.pt") is not None
    # Other torch.save files are not RNN-Ts; a broken RNN-T is refused with its reason.
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    assert rnnt_net.load_rnnt(tmp_path / "other.pt") is None
    del state["joint_net.0.bias"]
    torch.save({"state_dict": state}, tmp_path / "broken.pt")
    with pytest.raises(ModelFileError, match="does not fit"):
        rnnt_net.load_rnnt(tmp_path / "broken.pt")


def test_official_size_has_the_published_parameter_count() -> None:
    torch = pytest.importorskip("torch")
    from perfpilot.tasks.librispeech.torch_net import OFFICIAL, RNNT

    with torch.device("meta"):
        model = RNNT(OFFICIAL)
    count = sum(p.numel() for p in model.parameters())
    assert round(count / 1e6, 1) == 45.3  # the reference README's "45.3 M parameters"


def _reference_greedy(net: object, encoded: object, length: int, max_symbols: int) -> list[int]:
    """The reference ScriptGreedyDecoder loop, prediction recomputed at every step."""
    model = net.model  # type: ignore[attr-defined]
    labels: list[int] = []
    hidden = None
    for t in range(length):
        f = encoded[t : t + 1]  # type: ignore[index]
        symbols = 0
        while symbols < max_symbols:
            g, hidden_prime = model.prediction(labels[-1] if labels else None, hidden)
            k = int(model.joint(f, g).argmax())
            if k == BLANK:
                break
            labels.append(k)
            hidden = hidden_prime
            symbols += 1
    return labels


def test_greedy_decoding_matches_the_reference_loop(speech_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    from perfpilot.tasks.librispeech import torch_net as rnnt_net

    state = rnnt_net.standin_state_dict()
    model = rnnt_net.RNNT(rnnt_net.TINY)
    model.load_state_dict(
        {k.replace("joint_net.", "joint.net."): v for k, v in state.items() if "audio" not in k}
    )
    net = rnnt_net.SpeechRecognizer(model.eval())
    wav = torch.from_numpy(LibriSpeechDataset(speech_dir).samples(np.array([0]))[0])[None]
    with torch.inference_mode():
        features, frames = net.featurizer(wav, torch.tensor([wav.shape[1]]))
        encoded, lengths = model.encoder(features.permute(2, 0, 1), frames)
        assert int(lengths[0]) == math.ceil(int(frames[0]) / 2) == encoded.shape[1]
        got = net(wav)[0].tolist()
        assert got == _reference_greedy(net, encoded[0], int(lengths[0]), 30)
        # A joint that never picks the blank stops at 30 symbols per encoder step.
        model.joint.net[3].bias.data[BLANK] = -1e4
        short = wav[:, :4000]  # 25 frames -> 9 spliced -> 5 encoder steps
        assert net(short).shape[1] == 30 * 5


# -- end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_rnnt_standin_through_the_cli(tmp_path: Path) -> None:
    """dataset command -> wav reader -> LoadGen (ragged int64 responses) -> WER script, on the
    pytorch backend: the accuracy log holds exactly what the recognizer decodes in-process."""
    need_backend("pytorch")
    import torch

    from perfpilot.tasks.librispeech.standin import ensure_rnnt_standin_tiny
    from perfpilot.tasks.librispeech.torch_net import load_rnnt

    data = tmp_path / "ls"
    made = run_cli("dataset", "synthetic-librispeech", str(data), "--count", "3")
    assert made.returncode == 0, made.stderr
    ws = tmp_path / "ws"
    common = ("--workspace", str(ws), "run", "--model", "rnnt-standin-tiny", "--backend")
    common += ("pytorch", "--dataset-path", str(data), "--backend-threads", "1", "--json")
    offline = run_cli(*common, "--scenario", "Offline", "--mode", "both", "--threads", "1")
    assert offline.returncode == 0, offline.stderr
    # 12 queries are too few for LoadGen's early-stopping estimate: INVALID (exit 1), but run.
    single = run_cli(
        *common, "--scenario", "SingleStream", "--mode", "performance", "--count", "12"
    )
    assert single.returncode in (0, 1), single.stderr
    records = [json.loads(p.read_text()) for p in sorted(ws.glob("runs/*/run.json"))]
    assert [r["status"] for r in records] == ["ok"] * 3
    acc = next(r for r in records if r["config"]["mode"] == "accuracy")
    assert acc["accuracy"]["metric"] == "100-WER" and acc["accuracy"]["target"] is None
    run_dir = Path(acc["run_dir"])
    logged = {
        r["qsl_idx"]: np.frombuffer(bytes.fromhex(r["data"]), "<i8").tolist()
        for r in json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    }
    dataset = LibriSpeechDataset(data)
    assert sorted(logged) == [0, 1, 2] and dataset.total_count == 3  # the > 15 s clip dropped
    net = load_rnnt(ensure_rnnt_standin_tiny())
    assert net is not None
    with torch.inference_mode():
        for i, wav in enumerate(dataset.samples(np.arange(3))):
            assert logged[i] == net(torch.from_numpy(wav)[None])[0].tolist()
    expected = score_wer(run_dir / "mlperf_log_accuracy.json", dataset.transcripts())
    assert (run_dir / "accuracy.txt").read_text() == expected.line() + "\n"
    assert acc["accuracy"]["value"] == round(expected.accuracy, 3)
    perf = [r for r in records if r["config"]["mode"] == "performance"]
    assert {r["config"]["scenario"] for r in perf} == {"Offline", "SingleStream"}
    offline_perf = next(r for r in perf if r["config"]["scenario"] == "Offline")
    assert offline_perf["result"]["metric"] > 0
    single_perf = next(r for r in perf if r["config"]["scenario"] == "SingleStream")
    assert single_perf["result"]["query_count"] >= 12
    assert single_perf["result"]["latency_ns"]["p90"] > 0


def test_rnnt_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli(
        "run", "--model", "rnnt-standin-tiny", "--backend", "pytorch", "--dataset-path",
        str(tmp_path / "empty"),
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "dev-clean-wav.json" in lines[0] and "Traceback" not in lines[0]
    missing = run_cli("run", "--model", "rnnt", "--backend", "pytorch")
    assert missing.returncode == 2 and "--dataset-path" in missing.stderr


def test_pytorch_backend_checks_and_loads_rnnt_checkpoints(tmp_path: Path) -> None:
    need_backend("pytorch")
    import torch

    from perfpilot.backends import BackendConfig
    from perfpilot.backends.pytorch.backend import PyTorchBackend
    from perfpilot.tasks.librispeech.adapter import Transcripts, transcript_responses
    from perfpilot.tasks.librispeech.torch_net import standin_checkpoint_bytes

    path = tmp_path / "rnnt.pt"
    path.write_bytes(standin_checkpoint_bytes())
    PyTorchBackend.check_model(path, (-1,), "float32", (-1,), loader=TORCH_LOADER)
    with pytest.raises(ModelFileError, match="RNN-T checkpoint"):
        PyTorchBackend.check_model(path, (3, 224, 224), "float32", (1001,), loader=TORCH_LOADER)
    backend = Transcripts(
        PyTorchBackend(BackendConfig(threads=1, output_shape=(-1,), loader=TORCH_LOADER))
    )
    backend.load(path)
    rng = np.random.default_rng(5)
    batch = np.empty(2, dtype=object)
    batch[0] = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    batch[1] = (0.1 * rng.standard_normal(9000)).astype(np.float32)
    found = backend.predict(batch)
    responses = transcript_responses(found, np.array([0, 1]))
    assert [r.dtype for r in responses] == [np.int64, np.int64]
    inner = backend.inner._module
    assert inner is not None
    with torch.inference_mode():
        for wav, got in zip(batch, responses, strict=True):
            assert got.tolist() == inner(torch.from_numpy(wav)[None])[0].tolist()
    assert all(((r >= 0) & (r < BLANK)).all() for r in responses)
    backend.close()
