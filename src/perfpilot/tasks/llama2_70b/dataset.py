"""The reference's preprocessed Open-Orca file (``open_orca_gpt4_tokenized_llama.
sampled_24576.pkl``, as downloaded also ``.pkl.gz``): a pickled pandas DataFrame whose
``tok_input`` holds each prompt's Llama 2 token ids and ``output`` the GPT-4 answer the
ROUGE is taken against. Only pandas reads the pickle (see
:func:`perfpilot.tasks.common.generation.read_table`)."""

from __future__ import annotations

from pathlib import Path

from perfpilot.errors import UsageError
from perfpilot.tasks.common.generation import TokenPrompts, read_table, token_prompts

FILES = (
    "open_orca_gpt4_tokenized_llama.sampled_24576.pkl",
    "open_orca_gpt4_tokenized_llama.sampled_24576.pkl.gz",
)


def eval_file(folder: Path) -> Path:
    """The eval file in ``folder`` (or ``folder`` itself when it is the file)."""
    if folder.is_file():
        return folder
    for name in FILES:
        if (folder / name).is_file():
            return folder / name
    raise UsageError(
        f"{folder} holds no {FILES[0]}",
        "Point --dataset-path at the reference's preprocessed Open-Orca file or its folder, "
        "or make a stand-in with 'perfpilot dataset synthetic-llama2-70b DIR'.",
    )


class OpenOrca(TokenPrompts):
    """Prompts as int32 token-id arrays; ``references()`` the answers ROUGE is taken
    against."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        source = eval_file(path)
        columns = read_table(source)
        if "output" not in columns:
            raise UsageError(
                f"{source} has no 'output' column (the reference answers)",
                "Use the reference's preprocessed Open-Orca pickle (processorca.py's output).",
            )
        prompts = token_prompts(source, columns, ("tok_input",))[:size]
        self._references = [str(r) for r in columns["output"][: len(prompts)]]
        super().__init__("llama2-70b", source, prompts)

    def references(self) -> list[str]:
        """The reference answers, in sample order."""
        return self._references


#: The Llama 2 chat prompt processorca.py builds (system prompt, then the question).
PROMPT = "[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{question} [/INST]"


def make_synthetic_orca(
    folder: Path, count: int = 32, seed: int = 0, tokenizer: Path | None = None
) -> Path:
    """Write ``count`` rows in the reference's layout (a pickled DataFrame with
    ``id``, ``system_prompt``, ``question``, ``input``, ``output``, ``tok_input``,
    ``tok_output`` and ``origin``): made-up questions and answers, tokenized by
    ``tokenizer`` (a ``tokenizer.json`` or its folder; by default the Llama stand-in's,
    built here). The text means nothing; it runs the token path and the scorer."""
    from perfpilot.tasks.cnndm.standin import BOS, Babble, ensure_standin_tokenizer
    from perfpilot.tasks.common.generation import load_tokenizer, write_pickle

    tok = load_tokenizer(ensure_standin_tokenizer() if tokenizer is None else tokenizer)
    bos = tok.token_to_id(BOS)
    babble = Babble(seed)
    origins = ("cot", "flan", "niv", "t0")  # the four Open-Orca sub-datasets, sampled equally
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            "id",
            "system_prompt",
            "question",
            "input",
            "output",
            "tok_input",
            "tok_output",
            "origin",
        )
    }
    for i in range(count):
        system = babble.sentence()
        question = babble.paragraph(babble.rng.randint(1, 6))
        answer = babble.paragraph(babble.rng.randint(1, 4))
        prompt = PROMPT.format(system=system, question=question)
        ids = tok.encode(prompt, add_special_tokens=False).ids
        origin = origins[i % len(origins)]
        rows["id"].append(f"{origin}.{i}")
        rows["system_prompt"].append(system)
        rows["question"].append(question)
        rows["input"].append(prompt)
        rows["output"].append(answer)
        rows["tok_input"].append(([bos] if bos is not None else []) + ids)
        rows["tok_output"].append(tok.encode(answer, add_special_tokens=False).ids)
        rows["origin"].append(origin)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / FILES[0]
    write_pickle(out, rows)
    return out
