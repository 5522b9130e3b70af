"""Open-Orca question answering for Llama 2 70B Chat (MLPerf v4.0 to v6.x): the reference's
preprocessed pickle of 24,576 GPT-4 answered prompts, token prompts in, generated token
ids out, scored by ROUGE with a tokens-per-sample band as the submission checker gates it."""

from __future__ import annotations

from perfpilot.tasks.spec import ModelSpec, TaskSpec

#: The reference's FP16 scores (README "Accuracy Target"; the checker's constants).
ROUGE1, ROUGE2, ROUGEL, TOKENS_PER_SAMPLE = 44.4312, 22.0352, 28.6162, 294.45

TASK = TaskSpec(
    name="llama2-70b",
    description="Open-Orca GPT-4 answers, 24,576 prompts tokenized for Llama 2 "
    "(user folder: the reference's open_orca_gpt4_tokenized_llama.sampled_24576.pkl)",
    input_shape=(-1,),  # one prompt: int32 token ids of its own length
    input_dtype="int32",
    output_shape=(-1,),  # generated int32 token ids
    dataset="perfpilot.tasks.llama2_70b.dataset:OpenOrca",
    metric="ROUGE-1",
    accuracy_target=round(ROUGE1 * 0.99, 4),  # also ROUGE-2, ROUGE-L and tokens per sample
    server_latency_ms=2000,  # mlperf.conf's Server TTFT bound (TPOT: 200 ms)
    needs_dataset_path=True,
    # v5.1 on: Offline required, Server and Interactive optional (datacenter only)
    scenarios=("Offline", "Server", "Interactive"),
    dataset_hint="open_orca_gpt4_tokenized_llama.sampled_24576.pkl, the reference's "
    "preprocessed Open-Orca (a pandas pickle); 'perfpilot dataset synthetic-llama2-70b DIR' "
    "makes a stand-in",
    adapter="perfpilot.tasks.adapter:GenerativeAdapter",
    scorer="perfpilot.tasks.llama2_70b.scorer:score_dataset",
    synthetic="perfpilot.tasks.llama2_70b.commands:synthetic_llama2_70b",
    generative=True,
    max_new_tokens=1024,  # the reference SUT's generation setting
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="llama2-70b-99",
        task="llama2-70b",
        description="MLPerf Llama 2 70B Chat, 99% of the FP16 ROUGE (v4.0 to v6.0; dropped "
        "in v6.1); your Hugging Face folder with --model-path",
        format="huggingface",
        loadgen_name="llama2-70b",
        provider="",
        accuracy_target=round(ROUGE1 * 0.99, 4),
    ),
    ModelSpec(
        name="llama2-70b-99.9",
        task="llama2-70b",
        description="MLPerf Llama 2 70B Chat, 99.9% of the FP16 ROUGE; your Hugging Face "
        "folder with --model-path",
        format="huggingface",
        loadgen_name="llama2-70b",
        provider="",
        accuracy_target=round(ROUGE1 * 0.999, 4),
    ),
    ModelSpec(
        name="llama2-70b-standin",
        task="llama2-70b",
        description="a small random-weight Llama (not Llama 2's architecture) with its own "
        "tokenizer, built here in seconds: speed, the token path and the scorer; accuracy "
        "not judged",
        format="huggingface",
        loadgen_name="llama2-70b",
        provider="perfpilot.tasks.cnndm.standin:ensure_llama_standin",
        tokenizer="perfpilot.tasks.cnndm.standin:ensure_standin_tokenizer",
        standin=True,
    ),
)
