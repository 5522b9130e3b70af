"""LibriSpeech speech recognition: RNN-T (retired) and a tiny stand-in."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="librispeech",
    description="LibriSpeech dev-clean, clips up to 15 s (RNN-T, retired; user "
    "folder: dev-clean-wav.json + dev-clean-wav/ as convert_librispeech.py writes)",
    input_shape=(-1,),  # one waveform, 16 kHz float32, of its own length
    input_dtype="float32",
    output_shape=(-1,),  # label indices, int64, as many as decoded
    dataset="perfpilot.tasks.librispeech.dataset:LibriSpeechDataset",
    metric="100-WER",  # accuracy_eval.py's "accuracy=" (100 - WER), what the checker reads
    accuracy_target=round((100 - 7.452) * 0.99, 4),  # ("WER", (100 - 7.452) * 0.99)
    server_latency_ms=1000,
    needs_dataset_path=True,
    scenarios=("Offline", "Server", "SingleStream"),  # the reference's run.py
    dataset_hint="dev-clean-wav.json and dev-clean-wav/; "
    "'perfpilot dataset synthetic-librispeech DIR' makes a stand-in",
    adapter="perfpilot.tasks.librispeech.adapter:SpeechAdapter",
    scorer="perfpilot.tasks.librispeech.scorer:score_dataset",
    loaders=(("pytorch", "perfpilot.tasks.common.torch_models"),),
    synthetic="perfpilot.tasks.librispeech.commands:synthetic_librispeech",
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="rnnt",
        task="librispeech",
        description="MLPerf RNN-T (retired), official PyTorch fp32 checkpoint, WER 7.452% "
        "(--backend pytorch; no checksum published)",
        format="pytorch",
        loadgen_name="rnnt",
        provider="",
        postprocess="rnnt",  # greedy transcripts, int64 label indices per utterance
        urls=(
            "https://zenodo.org/record/3662521/files/"
            "DistributedDataParallel_1576581068.9962234-epoch-100.pt?download=1",
        ),
        artifact="rnnt-pytorch-fp32",
    ),
    ModelSpec(
        name="rnnt-standin-tiny",
        task="librispeech",
        description="tiny RNN-T stand-in (encoder 48, prediction 32, joint 32; NOT the "
        "MLPerf RNN-T): the official checkpoint layout, random weights: tests",
        format="pytorch",
        loadgen_name="rnnt",
        provider="perfpilot.tasks.librispeech.standin:ensure_rnnt_standin_tiny",
        postprocess="rnnt",
        standin=True,
    ),
)
