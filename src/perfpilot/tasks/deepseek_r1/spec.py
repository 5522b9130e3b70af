"""DeepSeek-R1 reasoning (MLPerf v5.1 on): the reference's 4,388 prompts from AIME,
MATH-500, GPQA, MMLU-Pro and LiveCodeBench, token prompts in, generated token ids out,
scored by exact match per sub-dataset with a tokens-per-sample band."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

#: The reference's PyTorch scores (README "Reference Evals"; the checker's constants).
EXACT_MATCH, TOKENS_PER_SAMPLE = 81.3582, 3886.2274

TASK = TaskSpec(
    name="deepseek-r1",
    description="AIME, MATH-500, GPQA, MMLU-Pro and LiveCodeBench, 4,388 prompts "
    "(user folder: the reference's mlperf_deepseek_r1_dataset_4388_fp8_eval.pkl)",
    input_shape=(-1,),  # one prompt: int32 token ids of its own length
    input_dtype="int32",
    output_shape=(-1,),  # generated int32 token ids
    dataset="perfpilot.tasks.deepseek_r1.dataset:DeepSeekEval",
    metric="exact_match",
    accuracy_target=round(EXACT_MATCH * 0.99, 4),  # and tokens per sample within 90-110%
    server_latency_ms=2000,  # mlperf.conf's Server TTFT bound (TPOT: 80 ms)
    needs_dataset_path=True,
    # v6.0 on: Offline required, Server and Interactive optional (v5.1: Offline, Server)
    scenarios=("Offline", "Server", "Interactive"),
    dataset_hint="mlperf_deepseek_r1_dataset_4388_fp8_eval.pkl, the reference's "
    "preprocessed set (a pandas pickle); 'perfpilot dataset synthetic-deepseek-r1 DIR' "
    "makes a stand-in",
    adapter="perfpilot.tasks.adapter:GenerativeAdapter",
    scorer="perfpilot.tasks.deepseek_r1.scorer:score_dataset",
    synthetic="perfpilot.tasks.deepseek_r1.commands:synthetic_deepseek_r1",
    generative=True,
    max_new_tokens=20_000,  # the reference's MAX_OSL
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="deepseek-r1",
        task="deepseek-r1",
        description="MLPerf DeepSeek-R1 (671B MoE; 99% of the reference's exact match); your "
        "Hugging Face folder with --model-path, or a server through --backend openai",
        format="huggingface",
        loadgen_name="deepseek-r1",
        provider="",
    ),
    ModelSpec(
        name="deepseek-r1-standin",
        task="deepseek-r1",
        description="a small random-weight Llama (not DeepSeek-R1's architecture) with its own "
        "tokenizer, built here in seconds: speed, the token path and the scorer; accuracy "
        "not judged",
        format="huggingface",
        loadgen_name="deepseek-r1",
        provider="perfpilot.tasks.cnndm.standin:ensure_llama_standin",
        tokenizer="perfpilot.tasks.cnndm.standin:ensure_standin_tokenizer",
        standin=True,
    ),
)
