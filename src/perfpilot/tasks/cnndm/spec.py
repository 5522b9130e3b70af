"""CNN-DailyMail summarisation for Llama 3.1 8B (MLPerf v5.1 on): the reference's
preprocessed eval file, token prompts in, generated token ids out, LoadGen's token path
(TTFT, TPOT, tokens/s) and the Interactive scenario."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK = TaskSpec(
    name="cnndm",
    description="CNN-DailyMail v3.0.0 validation, 13,368 articles tokenized for Llama 3.1 "
    "(user folder: the reference's cnn_eval.json)",
    input_shape=(-1,),  # one prompt: int32 token ids of its own length
    input_dtype="int32",
    output_shape=(-1,),  # generated int32 token ids, as many as generated
    dataset="perfpilot.tasks.cnndm.dataset:CnnDailyMail",
    metric="ROUGE-1",
    accuracy_target=round(38.7792 * 0.99, 4),  # the checker's rouge1 gate (also 2, L, Lsum)
    server_latency_ms=2000,  # mlperf.conf's Server TTFT bound (TPOT: 100 ms)
    needs_dataset_path=True,
    scenarios=("Offline", "Server", "SingleStream", "Interactive"),
    dataset_hint="cnn_eval.json, the reference's preprocessed CNN-DailyMail; "
    "'perfpilot dataset synthetic-cnndm DIR' makes a stand-in",
    adapter="perfpilot.tasks.adapter:GenerativeAdapter",
    scorer="perfpilot.tasks.cnndm.scorer:score_dataset",
    synthetic="perfpilot.tasks.cnndm.commands:synthetic_cnndm",
    generative=True,
    max_new_tokens=128,  # the reference's generation setting
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="llama3.1-8b",
        task="cnndm",
        description="MLPerf Llama 3.1 8B Instruct (datacenter); your Hugging Face folder "
        "with --model-path, or --backend null to measure the harness",
        format="huggingface",
        loadgen_name="llama3_1-8b",
        provider="",
    ),
    ModelSpec(
        name="llama3.1-8b-edge",
        task="cnndm",
        description="MLPerf Llama 3.1 8B Instruct (edge: 5,000 samples, Offline and "
        "SingleStream; ROUGE-1 target 99% of 39.06)",
        format="huggingface",
        loadgen_name="llama3_1-8b-edge",
        provider="",
        accuracy_target=round(39.06 * 0.99, 4),
    ),
    ModelSpec(
        name="llama3.1-8b-standin",
        task="cnndm",
        description="the Llama architecture with random weights and its own tokenizer, "
        "built here in seconds (speed and the token path; accuracy not judged)",
        format="huggingface",
        loadgen_name="llama3_1-8b",
        provider="perfpilot.tasks.cnndm.standin:ensure_llama_standin",
        tokenizer="perfpilot.tasks.cnndm.standin:ensure_standin_tokenizer",
        standin=True,
    ),
)
