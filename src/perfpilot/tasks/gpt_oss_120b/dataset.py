"""The reference's gpt-oss-120b dataset: a folder with ``acc/acc_eval_inputs.parquet``
(4,395 rows, the accuracy run's) and ``perf/perf_eval_ref.parquet`` (6,396 rows, the
performance run's), pickled DataFrames (``.pkl``) in older downloads. Each row has the
prompt's token ids (``input_tokens``; ``tok_input`` before v4.0 of the files), its
sub-dataset (``dataset``) and, in the accuracy set, its answer (``ground_truth``: a
letter, an integer, or LiveCodeBench's question id).

A folder holding both is read for its accuracy set: that is the set the scorer can
judge; point --dataset-path at the performance file for performance runs as the
reference does (its mlperf.conf sets 6,396 performance and 4,395 accuracy samples)."""

from __future__ import annotations

from pathlib import Path

from perfpilot.errors import UsageError
from perfpilot.tasks.common.generation import TokenPrompts, read_table, token_prompts

#: Accuracy set first: in a folder with both, it is the one read.
FILES = (
    "acc/acc_eval_inputs.parquet",
    "acc_eval_inputs.parquet",
    "acc/acc_eval_inputs.pkl",
    "acc_eval_inputs.pkl",
    "perf/perf_eval_ref.parquet",
    "perf_eval_ref.parquet",
    "perf/perf_eval_ref.pkl",
    "perf_eval_ref.pkl",
)
TOKEN_COLUMNS = ("input_tokens", "tok_input")


def eval_file(folder: Path) -> Path:
    """The eval file in ``folder`` (or ``folder`` itself when it is the file)."""
    if folder.is_file():
        return folder
    for name in FILES:
        if (folder / name).is_file():
            return folder / name
    raise UsageError(
        f"{folder} holds neither acc/acc_eval_inputs.parquet nor perf/perf_eval_ref.parquet",
        "Point --dataset-path at the reference's gpt-oss dataset folder or one of its files, "
        "or make a stand-in with 'perfpilot dataset synthetic-gpt-oss-120b DIR'.",
    )


class GptOssEval(TokenPrompts):
    """Prompts as int32 token-id arrays; ``subsets()`` and ``answers()`` for the scorer
    (answers are None where the file has no ``ground_truth``: the performance set)."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        source = eval_file(path)
        columns = read_table(source)
        if "dataset" not in columns:
            raise UsageError(
                f"{source} has no 'dataset' column (each prompt's sub-dataset)",
                "Use the reference's gpt-oss Parquet (or pickle) file.",
            )
        prompts = token_prompts(source, columns, TOKEN_COLUMNS)[:size]
        self._subsets = [str(d) for d in columns["dataset"][: len(prompts)]]
        self._answers = columns.get("ground_truth")
        if self._answers is not None:
            self._answers = self._answers[: len(prompts)]
        super().__init__("gpt-oss-120b", source, prompts)

    def subsets(self) -> list[str]:
        """Each sample's sub-dataset name, in sample order."""
        return self._subsets

    def answers(self) -> list[object]:
        """Each sample's ground truth, in sample order (a usage error for a file without)."""
        if self._answers is None:
            raise UsageError(
                f"{self.source} has no 'ground_truth' column: it cannot be scored",
                "Run accuracy on the reference's accuracy set (acc/acc_eval_inputs.parquet).",
            )
        return list(self._answers)


def make_synthetic_gpt_oss(
    folder: Path, count: int = 16, seed: int = 0, tokenizer: Path | None = None
) -> Path:
    """Write ``count`` rows in the reference's layout (``dataset``, ``question``,
    ``input_tokens``, ``ground_truth``) to ``acc/acc_eval_inputs.parquet`` and, without
    answers, to ``perf/perf_eval_ref.parquet``: made-up questions from aime25,
    gpqa_diamond and livecodebench_v6 in turn, tokenized by ``tokenizer`` (default: the
    Llama stand-in's, built here). Returns the folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from perfpilot.tasks.cnndm.standin import Babble, ensure_standin_tokenizer
    from perfpilot.tasks.common.generation import load_tokenizer

    tok = load_tokenizer(ensure_standin_tokenizer() if tokenizer is None else tokenizer)
    babble = Babble(seed)
    rng = babble.rng
    subsets = ("aime25", "gpqa_diamond", "livecodebench_v6")
    rows: dict[str, list[object]] = {"dataset": [], "question": [], "input_tokens": []}
    answers: list[str] = []
    for i in range(count):
        subset = subsets[i % len(subsets)]
        question = babble.paragraph(rng.randint(1, 5))
        rows["dataset"].append(subset)
        rows["question"].append(question)
        rows["input_tokens"].append(tok.encode(question, add_special_tokens=False).ids)
        answers.append(
            str(rng.randint(0, 999))
            if subset == "aime25"
            else "ABCD"[rng.randrange(4)]
            if subset == "gpqa_diamond"
            else f"synthetic_{i}"  # LiveCodeBench's question id
        )
    for sub, table in (
        ("acc/acc_eval_inputs.parquet", {**rows, "ground_truth": answers}),
        ("perf/perf_eval_ref.parquet", rows),
    ):
        out = folder / sub
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        pq.write_table(pa.table(table), tmp)
        tmp.replace(out)  # whole file or none
    return folder
