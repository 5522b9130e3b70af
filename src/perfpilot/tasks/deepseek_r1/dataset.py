"""The reference's preprocessed DeepSeek-R1 set (``mlperf_deepseek_r1_dataset_4388_fp8_eval
.pkl``): a pickled pandas DataFrame with each prompt's token ids (``tok_input``, the
chat-templated ``text_input``), its sub-dataset (``dataset``: gpqa, mmlu_pro, math500,
aime..., livecodebench) and its answer (``ground_truth``, older files ``gt_output``). Only
pandas reads the pickle (see :func:`perfpilot.tasks.common.generation.read_table`)."""

from __future__ import annotations

from pathlib import Path

from perfpilot.errors import UsageError
from perfpilot.tasks.common.exact_match import find_check
from perfpilot.tasks.common.generation import TokenPrompts, read_table, token_prompts

FILES = ("mlperf_deepseek_r1_dataset_4388_fp8_eval.pkl",)


def eval_file(folder: Path) -> Path:
    """The eval file in ``folder`` (or ``folder`` itself when it is the file)."""
    if folder.is_file():
        return folder
    for name in FILES:
        if (folder / name).is_file():
            return folder / name
    raise UsageError(
        f"{folder} holds no {FILES[0]}",
        "Point --dataset-path at the reference's DeepSeek-R1 dataset file or its folder, "
        "or make a stand-in with 'perfpilot dataset synthetic-deepseek-r1 DIR'.",
    )


class DeepSeekEval(TokenPrompts):
    """Prompts as int32 token-id arrays; ``subsets()`` and ``answers()`` for the scorer."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        from perfpilot.tasks.deepseek_r1.scorer import CHECKS

        source = eval_file(path)
        columns = read_table(source)
        truth = next((c for c in ("gt_output", "ground_truth") if c in columns), None)
        if truth is None or "dataset" not in columns:
            raise UsageError(
                f"{source} lacks the 'dataset' and 'ground_truth' columns the scorer reads",
                "Use the reference's preprocessed DeepSeek-R1 pickle.",
            )
        if "tok_input" not in columns and "text_input" in columns:
            raise UsageError(
                f"{source} holds text prompts only ('text_input'); perfpilot sends token ids",
                "Add a 'tok_input' column: each text_input through the model's chat template "
                "(tokenizer.apply_chat_template, add_generation_prompt=True).",
            )
        prompts = token_prompts(source, columns, ("tok_input",))[:size]
        self._subsets = [str(d) for d in columns["dataset"][: len(prompts)]]
        self._answers = list(columns[truth][: len(prompts)])
        for name in sorted(set(self._subsets)):
            try:
                find_check(CHECKS, name)
            except ValueError as err:
                raise UsageError(f"{source}: {err}") from None
        super().__init__("deepseek-r1", source, prompts)

    def subsets(self) -> list[str]:
        """Each sample's sub-dataset name, in sample order."""
        return self._subsets

    def answers(self) -> list[object]:
        """Each sample's ground truth, in sample order."""
        return self._answers


def make_synthetic_deepseek(
    folder: Path, count: int = 20, seed: int = 0, tokenizer: Path | None = None
) -> Path:
    """Write ``count`` rows in the reference's layout (``text_input``, ``tok_input``,
    ``tok_input_len``, ``dataset``, ``ground_truth``, ``question``): made-up questions
    from gpqa, mmlu_pro, math500, aime1983 and livecodebench in turn, with answers of each
    kind, tokenized by ``tokenizer`` (default: the Llama stand-in's, built here)."""
    from perfpilot.tasks.cnndm.standin import Babble, ensure_standin_tokenizer
    from perfpilot.tasks.common.generation import load_tokenizer, write_pickle

    tok = load_tokenizer(ensure_standin_tokenizer() if tokenizer is None else tokenizer)
    babble = Babble(seed)
    rng = babble.rng
    answers = {
        "gpqa": lambda i: "ABCD"[rng.randrange(4)],
        "mmlu_pro": lambda i: "ABCDEFGHIJ"[rng.randrange(10)],
        "math500": lambda i: f"\\frac{{{rng.randint(1, 9)}}}{{{rng.randint(10, 19)}}}",
        "aime1983": lambda i: str(rng.randint(0, 999)),
        "livecodebench": lambda i: f"synthetic_{i}",  # LiveCodeBench's question id
    }
    names = list(answers)
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            "question",
            "text_input",
            "tok_input",
            "tok_input_len",
            "dataset",
            "ground_truth",
        )
    }
    for i in range(count):
        subset = names[i % len(names)]
        question = babble.paragraph(rng.randint(1, 5))
        ids = tok.encode(question, add_special_tokens=False).ids
        rows["question"].append(question)
        rows["text_input"].append(question)
        rows["tok_input"].append(ids)
        rows["tok_input_len"].append(len(ids))
        rows["dataset"].append(subset)
        rows["ground_truth"].append(answers[subset](i))
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / FILES[0]
    write_pickle(out, rows)
    return out
