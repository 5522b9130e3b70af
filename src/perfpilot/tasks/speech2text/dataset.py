"""LibriSpeech dev-clean + dev-other repacked into clips of up to 30 s, the Whisper
benchmark's dataset (MLPerf v5.1 on), read from a user's disk, and a synthetic folder of
the same layout.

Layout (the reference's ``utils/repackage_librispeech.py`` output, also the MLCommons
preprocessed download)::

    DIR/dev-all-repack.json                      the manifest (a JSON list, 1,633 entries)
    DIR/dev-all-repack/<speaker>-<chapter>_<n>.wav   16 kHz mono 16-bit PCM

An entry is ``{"transcript": "...", "files": [{"fname": ".../dev-all-repack/x.wav",
"speed": 1, "duration": 29.4, ...}], "original_duration": 29.4, ...}``: a speaker's
chapter's utterances joined with 0.5 s of silence, their lower-case transcripts joined by
spaces. The reference writes ``fname`` as the path it wrote the file to (absolute, or
relative to where it ran); its QSL reads ``os.path.join(dataset_dir, fname)``. Here a
name is looked up as given, then under DIR, then as DIR/dev-all-repack/<file name>, so a
moved folder still reads. Entries over 30 s are dropped, as the reference Manifest does.

The reference keeps of each transcript only the characters of its 42 labels (others are
dropped, not mapped); the samples are the raw waveforms, float32 in [-1, 1] (librosa's
16 kHz load); the log-mel features are computed inside the timed generation, as vLLM
does in the reference SUT.
"""

from __future__ import annotations

import io
import json
import string
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import atomic_write_bytes, atomic_write_text
from perfpilot.errors import UsageError
from perfpilot.safepaths import listed_path
from perfpilot.tasks.common.fingerprint import folder_fingerprint
from perfpilot.userfiles import load_json

MANIFEST = "dev-all-repack.json"
WAV_DIR = "dev-all-repack"
MAX_DURATION_S = 30.0  # the reference's MAX_DURATION default
SAMPLE_RATE = 16000
#: The reference's labels (accuracy_eval.py, reference_SUT.py): responses and reference
#: transcripts are int64 indices into this list.
LABELS = (" ", *string.ascii_lowercase, "'", *string.digits, "$", "%", "+", "-")
_INDEX = {c: i for i, c in enumerate(LABELS)}
HINT = (
    "Point --dataset-path at the folder holding dev-all-repack.json and dev-all-repack/ "
    "(the reference's repackage_librispeech.py output, or the MLCommons preprocessed "
    "download); 'perfpilot dataset synthetic-speech2text DIR' makes a stand-in."
)


def text_to_labels(text: str) -> np.ndarray:
    """int64 label indices of ``text``'s characters; characters outside the labels are
    dropped (the reference's ``parse_transcript`` and SUT do the same)."""
    return np.fromiter((_INDEX[c] for c in text if c in _INDEX), dtype=np.int64)


def labels_to_text(labels: Any) -> str:
    """The characters of label indices (indices outside the labels are skipped)."""
    return "".join(LABELS[int(i)] for i in labels if 0 <= int(i) < len(LABELS))


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz PCM wav file as float32 in [-1, 1] (integers over 2**(bits-1), as
    librosa/soundfile read them; channels averaged)."""
    try:
        with wave.open(str(path), "rb") as fh:
            rate, width, channels = fh.getframerate(), fh.getsampwidth(), fh.getnchannels()
            raw = fh.readframes(fh.getnframes())
    except (OSError, EOFError, wave.Error) as err:
        raise UsageError(f"cannot read {path} as a PCM wav file ({err})", HINT) from err
    if rate != SAMPLE_RATE or width not in (2, 4):
        raise UsageError(
            f"{path} is {rate} Hz {8 * width}-bit; Whisper's reference reads 16 kHz PCM",
            "Convert it to 16 kHz 16-bit PCM (sox IN -r 16000 -b 16 OUT.wav).",
        )
    ints = np.frombuffer(raw, "<i2" if width == 2 else "<i4")
    data = ints.astype(np.float32) * np.float32(1.0 / 2 ** (8 * width - 1))
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(data, dtype=np.float32)


@dataclass(frozen=True)
class Clip:
    """One kept manifest entry: its wav file, duration and transcript (label characters
    only)."""

    path: Path
    duration: float
    transcript: str


def manifest_file(path: Path) -> Path:
    """The manifest in folder ``path`` (or ``path`` itself when it is the file)."""
    if path.is_file() and path.suffix == ".json":
        return path
    if not path.is_dir():
        raise UsageError(f"dataset folder not found: {path}", HINT)
    if not (path / MANIFEST).is_file():
        raise UsageError(f"dataset folder {path} has no {MANIFEST}", HINT)
    return path / MANIFEST


def _locate(folder: Path, fname: str, source: Path, number: int) -> Path:
    given = Path(fname)
    try:
        inside = [listed_path(folder, fname, source, f"entry {number}")]
    except UsageError:
        # The reference writes absolute paths: only the file of that name in wav/ is read.
        inside = []
        if not given.name or given.name in (".", ".."):
            raise
    for candidate in (*inside, folder / WAV_DIR / given.name):
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"wav file listed in {MANIFEST} not found: {fname} (looked in {folder} and "
        f"{folder / WAV_DIR})",
        "Check that the dataset folder is complete: the accuracy script needs every clip.",
    )


def read_manifest(path: Path, max_duration: float = MAX_DURATION_S) -> list[Clip]:
    """The clips of a dataset folder in QSL order, as the reference Manifest keeps them."""
    source = manifest_file(path)
    folder = source.parent
    entries = load_json(source, "clip manifest", list, HINT)
    if not entries:
        raise UsageError(f"{source}: expected a non-empty JSON list of clips", HINT)
    kept = []
    for number, entry in enumerate(entries):
        try:
            duration = float(entry["original_duration"])
            files = [f for f in entry["files"] if float(f["speed"]) == 1.0]
            transcript = entry["transcript"]
            fname = str(files[0]["fname"])
        except (TypeError, KeyError, ValueError, IndexError) as err:
            raise UsageError(
                f"{source}: entry {number} lacks transcript, original_duration or a "
                f"speed-1 files[].fname ({type(err).__name__}: {err})",
                HINT,
            ) from None
        if duration > max_duration:
            continue
        if not isinstance(transcript, str):  # the reference drops such entries too
            continue
        text = labels_to_text(text_to_labels(transcript))
        kept.append(Clip(_locate(folder, fname, source, number), duration, text))
    if not kept:
        raise UsageError(f"{source} lists no clip of at most {max_duration:g} s", HINT)
    return kept


class WhisperLibriSpeech:
    """The first ``size`` kept clips of a dataset folder. Samples are the raw waveforms,
    one float32 array per clip, in a 1-D object array (lengths differ)."""

    name = "librispeech-dev-all-repack"

    def __init__(self, path: Path, size: int | None = None) -> None:
        path = path.expanduser().absolute()
        clips = read_manifest(path)
        if size is not None:
            if size < 1:
                raise UsageError(f"invalid dataset size {size}: must be at least 1")
            clips = clips[:size]
        self.clips = clips
        self.total_count = len(clips)
        # mlperf.conf: whisper's performance_sample_count_override is the whole set (1,633).
        self.performance_count = self.total_count
        self._sha = folder_fingerprint(
            "speech2text-v1", manifest_file(path), ((c.path.name, c.path) for c in clips)
        )

    def sha256(self) -> str:
        return self._sha

    def labels(self) -> np.ndarray:
        """QSL indices (the ground truth is :meth:`transcripts`)."""
        return np.arange(self.total_count, dtype=np.int64)

    def transcripts(self) -> list[str]:
        """Reference transcripts in QSL order (label characters only)."""
        return [c.transcript for c in self.clips]

    def samples(self, indices: np.ndarray) -> np.ndarray:
        """A 1-D object array holding one float32 waveform per index."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        out = np.empty(len(idx), dtype=object)
        for k, i in enumerate(idx):
            out[k] = read_wav(self.clips[int(i)].path)
        return out


# -- synthetic folder ----------------------------------------------------------------------

WORDS = (
    "the a of and to in he was it his that with had for as on at she her by mister "
    "chapter you said not be this which from were we an one little they all but so "
    "there man would upon out into him when what came two old night won't i'm day "
    "colour honour neighbour grey centre"  # British spellings the normaliser maps
).split()


def _wav_bytes(pcm: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(SAMPLE_RATE)
        fh.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def make_synthetic(folder: Path, count: int = 4, seed: int = 0) -> Path:
    """Write ``count`` clips (tones and noise, 1 to 4 s; one more over 30 s, which the
    reader drops as the reference does) and their manifest in the reference's layout,
    with made-up lower-case transcripts. The audio means nothing: it runs the Whisper
    pipeline and its WER script without the real dataset."""
    rng = np.random.default_rng(seed)
    entries: list[dict[str, Any]] = []
    for i in range(count + 1):
        seconds = 30.5 if i == count else float(rng.uniform(1.0, 4.0))
        n = int(seconds * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        tone = sum(0.2 * np.sin(2 * np.pi * float(rng.uniform(100, 3000)) * t) for _ in range(3))
        audio = tone + 0.02 * rng.standard_normal(n)
        pcm = np.clip(np.round(audio * 32767), -32768, 32767)
        rel = f"{WAV_DIR}/{1000 + i % 3}-{2000 + i % 2}_{i}.wav"
        atomic_write_bytes(folder / rel, _wav_bytes(pcm))
        words = [str(w) for w in rng.choice(WORDS, size=int(rng.integers(3, 12)))]
        entries.append(
            {
                "transcript": " ".join(words),
                "files": [
                    {
                        "channels": 1,
                        "sample_rate": float(SAMPLE_RATE),
                        "bitdepth": 16,
                        "bitrate": 256000.0,
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
            }
        )
    atomic_write_text(folder / MANIFEST, json.dumps(entries, indent=2) + "\n")
    return folder
