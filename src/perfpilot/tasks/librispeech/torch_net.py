"""RNN-T for LibriSpeech (MLPerf, retired after v3.1) as a torch module that perfpilot
builds itself and fills from a checkpoint in the official layout.

The official file is a ``torch.save`` dict whose ``state_dict`` holds (rnnt.toml sizes)::

    audio_preprocessor.featurizer.{fb [1, 80, 257], window [320]}  (unused: recomputed)
    encoder.pre_rnn.lstm.{weight_ih,weight_hh,bias_ih,bias_hh}_l{0,1}   240 -> 1024
    encoder.post_rnn.lstm.*_l{0,1,2}                                    2048 -> 1024
    prediction.embed.weight [28, 320]
    prediction.dec_rnn.lstm.*_l{0,1}                                    320 -> 320
    joint_net.{0,3}.{weight,bias}   Linear(1344, 512), ReLU, Dropout, Linear(512, 29)

The reference (pytorch_SUT.py) renames ``joint_net`` to ``joint.net``, drops the two
featurizer buffers and loads the rest strictly; here the sizes are read from the shapes,
so a small checkpoint of the same layout (the stand-in) loads the same way.

One forward pass is the reference SUT's timed work for one utterance: log-mel features
(FilterbankFeatures), the encoder (LSTMs, time stacking by 2), then greedy decoding with
at most 30 symbols per encoder step. It returns the label indices (int64).
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from perfpilot.errors import ModelFileError
from perfpilot.tasks.librispeech import dataset as spec

_FIRST_KEY = "encoder.pre_rnn.lstm.weight_ih_l0"


class Featurizer(nn.Module):
    """The reference's FilterbankFeatures with rnnt.toml's [input_eval] settings:
    waveform [B, N] -> normalised spliced log-mel features [B, 240, T]."""

    fb: torch.Tensor
    window: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.win_length = int(spec.SAMPLE_RATE * spec.WINDOW_SIZE_S)
        self.hop_length = int(spec.SAMPLE_RATE * spec.WINDOW_STRIDE_S)
        self.register_buffer("fb", torch.from_numpy(spec.mel_filterbank()), persistent=False)
        self.register_buffer(
            "window", torch.hann_window(self.win_length, periodic=False), persistent=False
        )

    def seq_len(self, samples: torch.Tensor) -> torch.Tensor:
        frames = (samples + self.hop_length - 1) // self.hop_length
        return (frames + spec.FRAME_SPLICING - 1) // spec.FRAME_SPLICING

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq_len = self.seq_len(lengths)
        x = torch.cat((x[:, :1], x[:, 1:] - spec.PREEMPHASIS * x[:, :-1]), dim=1)
        stft = torch.stft(
            x,
            n_fft=spec.N_FFT,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = stft.real.square() + stft.imag.square()
        power = power + spec.DITHER**2  # the reference's deterministic dithering
        x = torch.log(torch.matmul(self.fb, power) + 1e-20)
        # Splice: frame t carries frames t, t+1, t+2 (zeros past the end); keep every 3rd.
        shifted = [x]
        for n in range(1, spec.FRAME_SPLICING):
            tmp = torch.zeros_like(x)
            tmp[:, :, :-n] = x[:, :, n:]
            shifted.append(tmp)
        x = torch.cat(shifted, dim=1)[:, :, :: spec.FRAME_SPLICING]
        # Per-feature normalisation over each utterance's own frames (unbiased std + 1e-5).
        out = torch.empty_like(x)
        for i in range(x.shape[0]):
            frames = x[i, :, : int(seq_len[i])]
            mean = frames.mean(dim=1, keepdim=True)
            std = frames.std(dim=1, keepdim=True) + 1e-5
            out[i] = (x[i] - mean) / std
        return out[:, :, : int(seq_len.max())], seq_len


class _Lstm(nn.Module):
    """The reference's LstmDrop: an ``nn.LSTM`` under the name ``lstm`` (its dropout does
    nothing at inference)."""

    def __init__(self, inputs: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=inputs, hidden_size=hidden, num_layers=layers)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        out, new_state = self.lstm(x, state)
        return out, new_state


@dataclass(frozen=True)
class RnntSize:
    """The dimensions of an RNN-T (rnnt.toml for the official one)."""

    encoder_hidden: int = 1024
    pre_layers: int = 2
    post_layers: int = 3
    stack_factor: int = 2
    pred_hidden: int = 320
    pred_layers: int = 2
    joint_hidden: int = 512
    in_features: int = spec.N_MELS * spec.FRAME_SPLICING
    classes: int = len(spec.LABELS) + 1  # with the blank


OFFICIAL = RnntSize()
TINY = RnntSize(encoder_hidden=48, pred_hidden=32, joint_hidden=32)


def recipe(size: RnntSize) -> str:
    s = size
    return (
        f"rnnt-standin/e{s.encoder_hidden}x{s.pre_layers}+{s.post_layers}-s{s.stack_factor}"
        f"-p{s.pred_hidden}x{s.pred_layers}-j{s.joint_hidden}/1"
    )


class Encoder(nn.Module):
    def __init__(self, size: RnntSize) -> None:
        super().__init__()
        self.factor = size.stack_factor
        self.pre_rnn = _Lstm(size.in_features, size.encoder_hidden, size.pre_layers)
        self.post_rnn = _Lstm(
            size.stack_factor * size.encoder_hidden, size.encoder_hidden, size.post_layers
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [T, B, F] -> ([B, T', H], lengths'), T' = ceil(T / stack factor)."""
        x, _ = self.pre_rnn(x)
        # StackTime: pad T to a multiple of the factor, then concatenate neighbours.
        b_t_h = x.transpose(0, 1)
        pad = (-b_t_h.shape[1]) % self.factor
        if pad:
            b_t_h = torch.cat([b_t_h, b_t_h.new_zeros(b_t_h.shape[0], pad, b_t_h.shape[2])], 1)
        b, t, h = b_t_h.shape
        x = b_t_h.reshape(b, t // self.factor, h * self.factor).transpose(0, 1)
        lengths = torch.ceil(lengths.float() / self.factor).int()
        x, _ = self.post_rnn(x)
        return x.transpose(0, 1), lengths


class Prediction(nn.Module):
    def __init__(self, size: RnntSize) -> None:
        super().__init__()
        self.hidden = size.pred_hidden
        self.embed = nn.Embedding(size.classes - 1, size.pred_hidden)  # no row for the blank
        self.dec_rnn = _Lstm(size.pred_hidden, size.pred_hidden, size.pred_layers)

    def forward(
        self, label: int | None, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One step: [1, 1, H] output for the last label (None: start of sentence, a
        zero input as in the reference) and the new LSTM state."""
        device = self.embed.weight.device
        if label is None:
            y = torch.zeros((1, 1, self.hidden), dtype=torch.float32, device=device)
        else:
            y = self.embed(torch.tensor([[label]], dtype=torch.int64, device=device))
        g, new_state = self.dec_rnn(y.transpose(0, 1), state)
        return g.transpose(0, 1), new_state


class Joint(nn.Module):
    def __init__(self, size: RnntSize) -> None:
        super().__init__()
        # Index 2 held the training-time Dropout: Identity keeps the checkpoint's
        # ``joint.net.3`` name for the output layer.
        self.net = nn.Sequential(
            nn.Linear(size.pred_hidden + size.encoder_hidden, size.joint_hidden),
            nn.ReLU(),
            nn.Identity(),
            nn.Linear(size.joint_hidden, size.classes),
        )

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Logits for one encoder frame f [1, H] and prediction output g [1, 1, H2]."""
        return self.net(torch.cat([f, g[:, 0]], dim=1))[0]  # type: ignore[no-any-return]


class RNNT(nn.Module):
    """The reference's RNNT: ``encoder``, ``prediction``, ``joint`` (state-dict names)."""

    def __init__(self, size: RnntSize) -> None:
        super().__init__()
        self.size = size
        self.encoder = Encoder(size)
        self.prediction = Prediction(size)
        self.joint = Joint(size)


class SpeechRecognizer(nn.Module):
    """Waveforms [B, N] float32 -> label indices [B, L] int64 (rows shorter than the
    longest padded with -1). Each row is one whole utterance, decoded greedily."""

    def __init__(self, model: RNNT, max_symbols: int = spec.MAX_SYMBOLS_PER_STEP) -> None:
        super().__init__()
        self.featurizer = Featurizer()
        self.model = model
        self.blank = model.size.classes - 1
        self.max_symbols = max_symbols

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        device = next(self.model.parameters()).device
        rows = []
        for wav in waveforms:
            wav = wav.to(device=device, dtype=torch.float32)[None, :]
            lengths = torch.tensor([wav.shape[1]], dtype=torch.int64, device=device)
            features, frames = self.featurizer(wav, lengths)
            encoded, enc_len = self.model.encoder(features.permute(2, 0, 1), frames)
            rows.append(self.greedy(encoded[0], int(enc_len[0])))
        width = max((len(r) for r in rows), default=0)
        out = torch.full((len(rows), width), -1, dtype=torch.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r, dtype=torch.int64)
        return out

    def greedy(self, encoded: torch.Tensor, length: int) -> list[int]:
        """The reference's ScriptGreedyDecoder for one utterance (encoded: [T, H])."""
        prediction, joint = self.model.prediction, self.model.joint
        labels: list[int] = []
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        # The prediction network's output depends only on the last label and state, which
        # change only when a label is emitted: compute it once per emitted label.
        g, new_state = prediction(None, state)
        for t in range(min(length, encoded.shape[0])):
            f = encoded[t : t + 1]
            for _ in range(self.max_symbols):
                k = int(torch.argmax(joint(f, g)))
                if k == self.blank:
                    break
                labels.append(k)
                state = new_state
                g, new_state = prediction(k, state)
        return labels


# -- checkpoints ---------------------------------------------------------------------------

# torch.save's legacy (pre-1.6) format starts with its pickled magic number.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def is_torch_checkpoint(path: Path) -> bool:
    """True for a ``torch.save`` file (zip without TorchScript code, or the legacy
    format); TorchScript archives and ONNX files are False."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_LEGACY_MAGIC))
    except OSError:
        return False
    if head == _LEGACY_MAGIC:
        return True
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.endswith("/data.pkl") for n in names) and not any("/code/" in n for n in names)


def _state_dict(path: Path) -> dict[str, torch.Tensor] | None:
    try:
        # Zip files are memory-mapped: a large checkpoint of another model costs little.
        obj = torch.load(
            str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
        )
    except Exception as err:
        raise ModelFileError(
            f"torch cannot read {path} as a plain checkpoint ({str(err).splitlines()[0][:160]})",
            "perfpilot loads checkpoints with weights_only=True (tensors and plain "
            "containers only); re-save the state dict with torch.save({'state_dict': ...}).",
        ) from err
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        return None
    out = {}
    for key, value in state.items():
        key = str(key).removeprefix("module.")
        if key.startswith("audio_preprocessor."):
            continue  # fb and window: recomputed, as the reference does
        out[key.replace("joint_net.", "joint.net.")] = value
    return out if _FIRST_KEY in out else None


def _size_of(state: dict[str, torch.Tensor]) -> RnntSize:
    def layers(prefix: str) -> int:
        return sum(1 for k in state if k.startswith(f"{prefix}.lstm.weight_ih_l"))

    try:
        hidden = int(state["encoder.pre_rnn.lstm.weight_hh_l0"].shape[1])
        pred = int(state["prediction.dec_rnn.lstm.weight_hh_l0"].shape[1])
        return RnntSize(
            encoder_hidden=hidden,
            pre_layers=layers("encoder.pre_rnn"),
            post_layers=layers("encoder.post_rnn"),
            stack_factor=int(state["encoder.post_rnn.lstm.weight_ih_l0"].shape[1]) // hidden,
            pred_hidden=pred,
            pred_layers=layers("prediction.dec_rnn"),
            joint_hidden=int(state["joint.net.0.weight"].shape[0]),
            in_features=int(state[_FIRST_KEY].shape[1]),
            classes=int(state["joint.net.3.weight"].shape[0]),
        )
    except (KeyError, IndexError) as err:
        raise ModelFileError(
            f"RNN-T checkpoint lacks {err} or has an unexpected shape there",
            "Use the official checkpoint or one in its key layout.",
        ) from None


def load_rnnt(path: Path) -> SpeechRecognizer | None:
    """The recognizer with the weights of checkpoint ``path``, or None when ``path`` is
    not a torch.save file holding an RNN-T state dict."""
    if not is_torch_checkpoint(path):
        return None
    state = _state_dict(path)
    if state is None:
        return None
    size = _size_of(state)
    if size.in_features != OFFICIAL.in_features or size.classes != OFFICIAL.classes:
        raise ModelFileError(
            f"{path}: an RNN-T for {size.in_features} features and {size.classes} classes; "
            f"the LibriSpeech pipeline gives {OFFICIAL.in_features} (80 mels x 3) and "
            f"decodes {OFFICIAL.classes} labels (28 + blank)",
            "Use the official checkpoint or one with the same input and output sizes.",
        )
    model = RNNT(size)
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as err:
        raise ModelFileError(
            f"{path}: the state dict does not fit the RNN-T layout "
            f"({str(err).splitlines()[0][:160]})",
            "Use the official checkpoint or one in its key layout.",
        ) from err
    return SpeechRecognizer(model.eval()).eval()


def standin_state_dict(size: RnntSize = TINY, seed: int = 2513) -> dict[str, torch.Tensor]:
    """Seeded random weights in the official key layout (``joint_net`` names and the
    featurizer's two buffers included), for a model of ``size``."""
    gen = torch.Generator().manual_seed(seed)
    model = RNNT(size)
    state: dict[str, torch.Tensor] = {
        "audio_preprocessor.featurizer.fb": torch.from_numpy(spec.mel_filterbank())[None],
        "audio_preprocessor.featurizer.window": torch.hann_window(
            int(spec.SAMPLE_RATE * spec.WINDOW_SIZE_S), periodic=False
        ),
    }
    for key, value in model.state_dict().items():
        # Large weights and zero biases: outputs that depend on the audio (small random
        # weights leave every step's logits at their biases).
        if value.ndim > 1:
            data = (torch.rand(value.shape, generator=gen) * 2 - 1) * (
                6.0 / math.sqrt(value.shape[-1])
            )
        else:
            data = torch.zeros(value.shape)
        state[key.replace("joint.net.", "joint_net.")] = data
    # Random joints rarely pick the blank, so decoding would emit 30 symbols at every
    # step; a blank bias makes it emit a few characters per utterance instead.
    state["joint_net.3.bias"][size.classes - 1] = 6.0
    return state


def standin_checkpoint_bytes(size: RnntSize = TINY) -> bytes:
    """A torch.save file shaped like the official one: {"epoch", "step", "state_dict"}."""
    buf = io.BytesIO()
    torch.save({"epoch": 100, "step": 0, "state_dict": standin_state_dict(size)}, buf)
    return buf.getvalue()


def check_rnnt(path: Path, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> bool:
    """True if ``path`` is an RNN-T checkpoint that loads (every key and shape checked);
    a ModelFileError if it is one but the task's samples are not waveforms in and label
    indices out. False for any other file."""
    if load_rnnt(path) is None:
        return False
    if input_shape != (-1,) or output_shape != (-1,):
        raise ModelFileError(
            f"{path} is an RNN-T checkpoint (waveform in, label indices out); this task's "
            f"samples are {input_shape}, its outputs {output_shape}",
            "Run it on the LibriSpeech task (--model rnnt).",
        )
    return True
