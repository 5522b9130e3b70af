"""Speech to text with Whisper large-v3 (MLPerf v5.1 on, datacenter and edge): LibriSpeech
dev-clean + dev-other repacked into 1,633 clips of up to 30 s, waveforms in, transcripts
out on LoadGen's token path (tokens/s), scored by the reference's WER script."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="speech2text",
    description="LibriSpeech dev-clean + dev-other repacked into 1,633 clips of up to 30 s "
    "(user folder: dev-all-repack.json + dev-all-repack/ as the reference writes them)",
    input_shape=(-1,),  # one waveform, 16 kHz float32, of its own length
    input_dtype="float32",
    output_shape=(-1,),  # generated token ids; LoadGen logs the transcript's label indices
    dataset="perfpilot.tasks.speech2text.dataset:WhisperLibriSpeech",
    metric="100-WER",  # accuracy_eval.py's "accuracy=" (100 - WER), the checker's ACCURACY
    accuracy_target=(100.0 - 2.0671) * 0.99,  # the checker's ("ACCURACY", (100 - 2.0671) * 0.99)
    server_latency_ms=1000,  # unused: MLPerf runs Whisper Offline only
    needs_dataset_path=True,
    scenarios=("Offline",),  # the submission checker's only scenario, datacenter and edge
    dataset_hint="dev-all-repack.json and dev-all-repack/; "
    "'perfpilot dataset synthetic-speech2text DIR' makes a stand-in",
    adapter="perfpilot.tasks.speech2text.adapter:WhisperAdapter",
    scorer="perfpilot.tasks.speech2text.scorer:score_dataset",
    synthetic="perfpilot.tasks.speech2text.commands:synthetic_speech2text",
    generative=True,
    max_new_tokens=200,  # the reference's SamplingParams(max_tokens=200)
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="whisper-large-v3",
        task="speech2text",
        description="MLPerf Whisper large-v3 (openai/whisper-large-v3 at revision 06f233fe, "
        "or the MLCommons R2 download whisper-model.uri); your Hugging Face folder with "
        "--model-path; reference WER 2.0671%",
        format="huggingface",
        loadgen_name="whisper",
        provider="",
    ),
    ModelSpec(
        name="whisper-standin",
        task="speech2text",
        description="the Whisper architecture (128 mels, 30 s windows) at width 64 with random "
        "weights and its own tokenizer, built here in seconds (speed and the pipeline; "
        "accuracy not judged)",
        format="huggingface",
        loadgen_name="whisper",
        provider="perfpilot.tasks.speech2text.standin:ensure_whisper_standin",
        tokenizer="perfpilot.tasks.speech2text.standin:ensure_whisper_standin",
        standin=True,
    ),
)
