"""gpt-oss-120b reasoning (MLPerf v6.0 on): the reference's AIME25, GPQA-Diamond and
LiveCodeBench v6 prompts (repeated 8, 5 and 3 times in the accuracy set), token prompts
in, generated token ids out, scored by exact match weighted per sub-dataset."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

#: The reference's score (README "Accuracy Target"; the checker's constants).
EXACT_MATCH = 83.13

TASK = TaskSpec(
    name="gpt-oss-120b",
    description="AIME25, GPQA-Diamond and LiveCodeBench v6: 4,395 accuracy and 6,396 "
    "performance prompts (user folder: the reference's acc/ and perf/ Parquet files)",
    input_shape=(-1,),  # one prompt: int32 token ids of its own length
    input_dtype="int32",
    output_shape=(-1,),  # generated int32 token ids
    dataset="perfpilot.tasks.gpt_oss_120b.dataset:GptOssEval",
    metric="exact_match",
    accuracy_target=round(EXACT_MATCH * 0.99, 4),
    server_latency_ms=3000,  # mlperf.conf's Server TTFT bound (TPOT: 80 ms)
    needs_dataset_path=True,
    # v6.0 on: Offline required, Server and Interactive optional (datacenter)
    scenarios=("Offline", "Server", "Interactive"),
    dataset_hint="the reference's gpt-oss dataset folder (acc/acc_eval_inputs.parquet, "
    "perf/perf_eval_ref.parquet) or one of its files; 'perfpilot dataset "
    "synthetic-gpt-oss-120b DIR' makes a stand-in",
    adapter="perfpilot.tasks.adapter:GenerativeAdapter",
    scorer="perfpilot.tasks.gpt_oss_120b.scorer:score_dataset",
    synthetic="perfpilot.tasks.gpt_oss_120b.commands:synthetic_gpt_oss_120b",
    generative=True,
    # the accuracy setting (generation_config.json); performance runs use 10,240
    max_new_tokens=32_768,
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="gpt-oss-120b",
        task="gpt-oss-120b",
        description="MLPerf gpt-oss-120b (MoE, MXFP4; 99% of the reference's exact match); "
        "your Hugging Face folder with --model-path, or a server through --backend openai",
        format="huggingface",
        loadgen_name="gpt-oss-120b",
        provider="",
    ),
    ModelSpec(
        name="gpt-oss-120b-standin",
        task="gpt-oss-120b",
        description="a small random-weight Llama (not gpt-oss's architecture) with its own "
        "tokenizer, built here in seconds: speed, the token path and the scorer; accuracy "
        "not judged",
        format="huggingface",
        loadgen_name="gpt-oss-120b",
        provider="perfpilot.tasks.cnndm.standin:ensure_llama_standin",
        tokenizer="perfpilot.tasks.cnndm.standin:ensure_standin_tokenizer",
        standin=True,
    ),
)
