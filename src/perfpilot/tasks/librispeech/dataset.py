"""LibriSpeech dev-clean for RNN-T (retired after v3.1): the reference's preprocessed
folder read from a user's disk, its transcript normalisation, the log-mel filterbank
weights, the stand-in checkpoint and a synthetic folder of the same layout.

Layout (as the reference's ``run.sh`` stage 2, ``convert_librispeech.py``, writes it)::

    DIR/dev-clean-wav.json                          the manifest (a JSON list)
    DIR/dev-clean-wav/<speaker>/<chapter>/<id>.wav  16 kHz mono 16-bit PCM

A manifest entry is ``{"files": [{"fname": "dev-clean-wav/...wav", "speed": 1,
"sample_rate": 16000.0, "channels": 1, "duration": 6.59, "num_samples": 105440, ...}],
"original_duration": 6.59, "original_num_samples": 105440, "transcript": "..."}``; file
names are relative to DIR. The reference QSL keeps, in manifest order, the entries whose
``original_duration`` is at most 15 s (2513 of dev-clean's 2703) and reads the
``speed == 1`` file of each. Its samples are the raw waveforms (float32 in [-1, 1]): the
features are computed inside the timed model run, as here (see
``perfpilot.tasks.librispeech.torch_net``).
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import (
    atomic_write_bytes,
    atomic_write_text,
)
from perfpilot.errors import UsageError
from perfpilot.safepaths import listed_path
from perfpilot.tasks.common.fingerprint import folder_fingerprint
from perfpilot.userfiles import load_json

MANIFEST = "dev-clean-wav.json"
WAV_DIR = "dev-clean-wav"
MAX_DURATION_S = 15.0  # the reference QSL's Manifest(max_duration=15.0)
SAMPLE_RATE = 16000
#: The reference's 28 labels (rnnt.toml); the blank, index 28, is added after them.
LABELS = (" ", *string.ascii_lowercase, "'")
BLANK = len(LABELS)
#: rnnt.toml [input_eval]: 20 ms hann windows every 10 ms, n_fft 512, 80 log mels,
#: frames spliced by 3, per-feature normalisation; preemphasis 0.97 and dither 1e-5
#: (deterministic: dither**2 is added to the power spectrum) are FilterbankFeatures'.
WINDOW_SIZE_S = 0.02
WINDOW_STRIDE_S = 0.01
N_FFT = 512
N_MELS = 80
FRAME_SPLICING = 3
PREEMPHASIS = 0.97
DITHER = 1e-5
MAX_SYMBOLS_PER_STEP = 30  # ScriptGreedyDecoder's default, which pytorch_SUT.py keeps


# -- transcripts --------------------------------------------------------------------------

# The reference's english_cleaners: to ASCII, lower case, numbers and abbreviations spelt
# out, punctuation (except the labels' own, + and &) to spaces, whitespace collapsed.
_ABBREVIATIONS = [
    (re.compile(rf"\b{short}\.", re.IGNORECASE), long)
    for short, long in (
        ("mrs", "misess"),
        ("mr", "mister"),
        ("dr", "doctor"),
        ("st", "saint"),
        ("co", "company"),
        ("jr", "junior"),
        ("maj", "major"),
        ("gen", "general"),
        ("drs", "doctors"),
        ("rev", "reverend"),
        ("lt", "lieutenant"),
        ("hon", "honorable"),
        ("sgt", "sergeant"),
        ("capt", "captain"),
        ("esq", "esquire"),
        ("ltd", "limited"),
        ("col", "colonel"),
        ("ft", "fort"),
    )
]
_PUNCTUATION = "".join(c for c in string.punctuation if c not in "+&" and c not in LABELS)
_PUNCTUATION_TABLE = str.maketrans(_PUNCTUATION, " " * len(_PUNCTUATION))

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_THOUSANDS = ("", "thousand", "million", "billion", "trillion", "quadrillion")
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> str:
    words = []
    if n >= 100:
        words.append(f"{_ONES[n // 100]} hundred")
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else ""))
    elif n or not words:
        words.append(_ONES[n])
    return " ".join(words)


def number_words(n: int) -> str:
    """A cardinal in words, like inflect's ``number_to_words(n, andword="")``
    (punctuation aside, which normalisation turns into spaces anyway)."""
    if n < 1000:
        return _below_thousand(n)
    groups = []
    power = 0
    while n and power < len(_THOUSANDS):
        n, rest = divmod(n, 1000)
        if rest:
            groups.append(f"{_below_thousand(rest)} {_THOUSANDS[power]}".strip())
        power += 1
    return ", ".join(reversed(groups))


def _digits(text: str, zero: str = "zero") -> str:
    return ", ".join(zero if d == "0" else _ONES[int(d)] for d in text)


def _pairs(n: int) -> str:
    # inflect's group=2 with zero="oh": 1905 -> "nineteen oh five", 1984 -> "nineteen eighty-four"
    high, low = divmod(n, 100)
    tail = f"oh {_ONES[low]}" if low < 10 else number_words(low)
    return f"{number_words(high)} {tail}"


def _expand_number(match: re.Match[str]) -> str:
    text = match.group(0)
    if text[0] == "0":
        return _digits(text)
    num = int(text)
    if 1000 < num < 3000:
        if num == 2000:
            return "two thousand"
        if 2000 < num < 2010:
            return "two thousand " + number_words(num % 100)
        if num % 100 == 0:
            return number_words(num // 100) + " hundred"
        return _pairs(num)
    if num > 1000000000 and num % 10000 != 0:
        return _digits(text)
    return number_words(num)


def _ordinal(match: re.Match[str]) -> str:
    words = number_words(int(match.group(1)))
    head, sep, last = words.rpartition("-" if "-" in words.split(" ")[-1] else " ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{sep}{last}"


def _dollars(match: re.Match[str]) -> str:
    parts = match.group(1).split(".")
    if len(parts) > 2:
        return match.group(1) + " dollars"
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    d_unit = "dollar" if dollars == 1 else "dollars"
    c_unit = "cent" if cents == 1 else "cents"
    if dollars and cents:
        return f"{dollars} {d_unit}, {cents} {c_unit}"
    if dollars:
        return f"{dollars} {d_unit}"
    if cents:
        return f"{cents} {c_unit}"
    return "zero dollars"


def _normalize_numbers(text: str) -> str:
    text = re.sub(r"([0-9][0-9\,]+[0-9])", lambda m: m.group(1).replace(",", ""), text)
    text = re.sub(r"£([0-9\,]*[0-9]+)", r"\1 pounds", text)
    text = re.sub(r"\$([0-9\.\,]*[0-9]+)", _dollars, text)
    text = re.sub(r"([0-9]+\.[0-9]+)", lambda m: m.group(1).replace(".", " point "), text)
    text = re.sub(r"([0-9]+)(st|nd|rd|th)", _ordinal, text)
    return re.sub(r"[0-9]+", _expand_number, text)


def normalize_transcript(text: str) -> str:
    """A transcript as the reference Manifest normalises it before scoring: ASCII, lower
    case, numbers and abbreviations in words, punctuation to spaces, single spaces,
    stripped, and only characters of the 28 labels kept. (To ASCII is a Unicode
    decomposition here, where the reference uses unidecode: the same for accented Latin
    letters, which is all LibriSpeech has.)"""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _normalize_numbers(text.lower())
    for pattern, long in _ABBREVIATIONS:
        text = pattern.sub(long, text)
    text = text.translate(_PUNCTUATION_TABLE)
    text = text.replace("&", " and ").replace("+", " plus ")
    text = re.sub(r"\s+", " ", text).strip()
    return "".join(c for c in text if c in LABELS)


def text_to_labels(text: str) -> list[int]:
    """Label indices of a normalised transcript (the reference's parse_transcript)."""
    index = {c: i for i, c in enumerate(LABELS)}
    return [index[c] for c in text if c in index]


def labels_to_text(labels: Any) -> str:
    """Characters of decoded label indices (indices outside the 28 labels are dropped:
    the reference's map would fail on them)."""
    return "".join(LABELS[int(i)] for i in labels if 0 <= int(i) < len(LABELS))


# -- features: the mel filterbank ----------------------------------------------------------


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale (librosa's default, htk=False): linear below 1 kHz, log above.
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mel = hz / f_sp
    high = hz >= min_log_hz
    mel[high] = min_log_mel + np.log(hz[high] / min_log_hz) / logstep
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    hz = mel * f_sp
    high = mel >= min_log_mel
    hz[high] = min_log_hz * np.exp(logstep * (mel[high] - min_log_mel))
    return hz


def mel_filterbank(
    sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] float32 triangles on the Slaney mel scale from 0 Hz to
    Nyquist, each scaled to unit area (Slaney norm): the weights the reference gets from
    ``librosa.filters.mel(sr, n_fft, n_mels, fmin=0, fmax=sr / 2)``."""
    fft_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(
            _hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sample_rate / 2]))[0], n_mels + 2
        )
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def feature_frames(num_samples: int) -> int:
    """Spliced feature frames the reference keeps for a clip (FilterbankFeatures
    .get_seq_len): ceil(ceil(samples / hop) / splicing)."""
    hop = int(SAMPLE_RATE * WINDOW_STRIDE_S)
    frames = (num_samples + hop - 1) // hop
    return (frames + FRAME_SPLICING - 1) // FRAME_SPLICING


# -- the dataset folder --------------------------------------------------------------------


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz PCM wav file as float32 in [-1, 1] (integers scaled by 2**(bits-1), as the
    reference's soundfile read does; several channels are averaged)."""
    try:
        with wave.open(str(path), "rb") as fh:
            rate, width, channels = fh.getframerate(), fh.getsampwidth(), fh.getnchannels()
            raw = fh.readframes(fh.getnframes())
    except (OSError, EOFError, wave.Error) as err:
        raise UsageError(
            f"cannot read {path} as a PCM wav file ({err})",
            "Convert the audio as the reference's convert_librispeech.py does (sox: 16 kHz, "
            "16-bit PCM wav).",
        ) from err
    if rate != SAMPLE_RATE:
        raise UsageError(
            f"{path} is sampled at {rate} Hz; RNN-T needs {SAMPLE_RATE} Hz",
            "Resample it (sox IN -r 16000 OUT.wav) as the reference's conversion does.",
        )
    if width == 1:  # 8-bit wav is unsigned
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        ints = np.frombuffer(raw, "<i2" if width == 2 else "<i4")
        data = ints.astype(np.float32) * np.float32(1.0 / 2 ** (8 * width - 1))
    else:
        raise UsageError(
            f"{path} has {8 * width}-bit samples; perfpilot reads 8, 16 and 32-bit PCM",
            "Convert it to 16-bit PCM (sox IN -b 16 OUT.wav).",
        )
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(data, dtype=np.float32)


@dataclass(frozen=True)
class Utterance:
    """One kept manifest entry: its wav file, duration and normalised transcript."""

    path: Path
    duration: float
    transcript: str


def read_manifest(folder: Path, max_duration: float = MAX_DURATION_S) -> list[Utterance]:
    """The utterances of a LibriSpeech folder in QSL order, as the reference Manifest
    keeps them (``original_duration`` at most ``max_duration``, the ``speed == 1`` file)."""
    if not folder.is_dir():
        raise UsageError(f"dataset folder not found: {folder}", "Check --dataset-path.")
    path = folder / MANIFEST
    if not path.is_file():
        raise UsageError(
            f"dataset folder {folder} has no {MANIFEST}",
            "Point --dataset-path at the folder the reference's convert_librispeech.py wrote "
            f"into ({MANIFEST} beside {WAV_DIR}/); 'perfpilot dataset synthetic-librispeech "
            "DIR' makes a stand-in.",
        )
    entries = load_json(path, "manifest", list, "Re-create the manifest.")
    kept = []
    for number, entry in enumerate(entries):
        try:
            duration = float(entry["original_duration"])
            files = [f for f in entry["files"] if float(f["speed"]) == 1.0]
            transcript = str(entry["transcript"])
            fname = str(files[0]["fname"]) if files else None
        except (TypeError, KeyError, ValueError) as err:
            raise UsageError(
                f"{path}: entry {number} lacks files[].fname/speed, original_duration or "
                f"transcript ({type(err).__name__}: {err})",
                "Re-create the manifest with the reference's convert_librispeech.py.",
            ) from None
        if duration > max_duration:
            continue
        if fname is None:  # the reference's Manifest would keep it with no file, then fail
            raise UsageError(f"{path}: entry {number} has no speed-1 file", "Re-create it.")
        audio = listed_path(folder, fname, path, f"entry {number}")
        kept.append(Utterance(audio, duration, normalize_transcript(transcript)))
    if not kept:
        raise UsageError(
            f"{path} lists no utterance of at most {max_duration:g} s", "Check the manifest."
        )
    return kept


class LibriSpeechDataset:
    """The first ``size`` kept utterances of a LibriSpeech folder. Samples are the raw
    waveforms, one float32 array per utterance, handed out as an object array (lengths
    differ); they are read from disk when LoadGen loads them."""

    name = "librispeech-dev-clean"

    def __init__(self, folder: Path, size: int | None = None) -> None:
        self.folder = folder.expanduser().absolute()
        utterances = read_manifest(self.folder)
        if size is not None:
            if size < 1:
                raise UsageError(f"invalid dataset size {size}: must be at least 1")
            utterances = utterances[:size]
        for utt in utterances:
            if not utt.path.is_file():
                raise UsageError(
                    f"wav file listed in {MANIFEST} not found: {utt.path}",
                    "Check that the dataset folder is complete (the accuracy script needs "
                    "every listed utterance in order).",
                )
        self.utterances = utterances
        self.total_count = len(utterances)
        # mlperf.conf's rnnt performance_sample_count_override is the whole set (2513).
        self.performance_count = self.total_count
        self._sha = self._identity()

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def _identity(self) -> str:
        return folder_fingerprint(
            "librispeech-rnnt-v1",
            self.manifest_path,
            ((utt.path.name, utt.path) for utt in self.utterances),
        )

    def sha256(self) -> str:
        return self._sha

    def labels(self) -> np.ndarray:
        """QSL indices (the ground truth is :meth:`transcripts`)."""
        return np.arange(self.total_count, dtype=np.int64)

    def transcripts(self) -> list[str]:
        """Normalised reference transcripts in QSL order."""
        return [utt.transcript for utt in self.utterances]

    def samples(self, indices: np.ndarray) -> np.ndarray:
        """A 1-D object array holding one float32 waveform per index."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        out = np.empty(len(idx), dtype=object)
        for k, i in enumerate(idx):
            out[k] = read_wav(self.utterances[int(i)].path)
        return out


# -- synthetic folder and stand-in checkpoint ---------------------------------------------

_WORDS = (
    "the a of and to in he was it his that with had for as on at she her by mister "
    "chapter you said not be this which from were we an one little they all but so "
    "there man would upon out into him when what came two old night won't i'm day"
).split()


def make_synthetic_librispeech(folder: Path, count: int = 8, seed: int = 0) -> Path:
    """Write ``count`` short 16 kHz 16-bit clips (tones and noise, 0.4 to 2 s; one longer
    than 15 s, which the reader drops as the reference does) and their manifest in the
    reference's layout. The audio means nothing: it exists to run the RNN-T pipeline and
    its WER script without the real dataset."""
    rng = np.random.default_rng(seed)
    entries: list[dict[str, Any]] = []
    for i in range(count + 1):
        too_long = i == count  # one clip the 15 s limit filters out
        seconds = 15.5 if too_long else float(rng.uniform(0.4, 2.0))
        n = int(seconds * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        tone = sum(0.2 * np.sin(2 * np.pi * float(rng.uniform(100, 3000)) * t) for _ in range(3))
        audio = tone + 0.02 * rng.standard_normal(n)
        pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
        speaker, chapter = 1000 + i % 3, 2000 + i % 2
        rel = f"{WAV_DIR}/{speaker}/{chapter}/{speaker}-{chapter}-{i:04d}.wav"
        atomic_write_bytes(folder / rel, _wav_bytes(pcm))
        words = [str(w) for w in rng.choice(_WORDS, size=int(rng.integers(2, 9)))]
        entries.append(
            {
                "files": [
                    {
                        "channels": 1,
                        "sample_rate": float(SAMPLE_RATE),
                        "bitrate": 16,
                        "duration": n / SAMPLE_RATE,
                        "num_samples": n,
                        "encoding": "Signed Integer PCM",
                        "silent": False,
                        "fname": rel,
                        "speed": 1,
                    }
                ],
                "original_duration": n / SAMPLE_RATE,
                "original_num_samples": n,
                "transcript": " ".join(words),
            }
        )
    atomic_write_text(folder / MANIFEST, json.dumps(entries, indent=2) + "\n")
    return folder


def _wav_bytes(pcm: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    with wave.open(buf, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(SAMPLE_RATE)
        fh.writeframes(pcm.tobytes())
    return buf.getvalue()
