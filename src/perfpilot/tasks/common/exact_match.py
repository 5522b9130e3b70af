"""The answer checks the DeepSeek-R1 and gpt-oss references share (their
``eval_accuracy.py``): the last ``\\boxed{...}`` for MATH-500 graded by PRM800K, an AIME
integer 0-999, a multiple-choice letter compared with the ground truth. Each task parses
multiple-choice answers its own way and maps its sub-dataset names to these checks.

LiveCodeBench answers are programs the references run against hidden test cases in
LiveCodeBench's sandbox (its release data and an executor): nothing here runs generated
code, so those samples are reported as not scored and count as wrong in the overall
figure, which is then a lower bound."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perfpilot.tasks.common.mathgrade import grade_answer

#: The sub-dataset whose answers are code: parsed, never executed here.
CODE = "livecodebench"


def missing(value: Any) -> bool:
    """pandas' ``isna`` for one cell: None or a float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def clean(text: Any) -> str:
    """The references' ``validate_text_input``: "" for a missing cell, else stripped text."""
    return "" if missing(text) else str(text).strip()


def parse_boxed_math(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces balanced), stripped."""
    text = clean(text)
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    depth = 0
    for i in range(start + 7, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            if depth == 0:
                return text[start + 7 : i].strip()
            depth -= 1
    return None


def parse_aime_answer(text: str) -> int | None:
    """An AIME answer: the last ``\\boxed{digits}``, else the last ``Answer: digits``;
    only 0-999 counts."""
    text = clean(text)
    if not text:
        return None
    boxed = re.findall(r"\\boxed{\s*(\d+)\s*}", text)
    if boxed:
        digits = boxed[-1]
    else:
        answers = re.findall(r"Answer:\s*(\d+)(?!\.)\b", text, re.IGNORECASE | re.MULTILINE)
        if not answers:
            return None
        digits = answers[-1]
    value = int(digits)
    return value if 0 <= value <= 999 else None


def evaluate_multiple_choice(parsed: str | None, truth: Any, options: str) -> bool:
    if not parsed or not truth:
        return False
    return parsed.upper() in options and parsed.upper() == str(truth).upper()


def evaluate_math500(parsed: str | None, truth: Any) -> bool:
    if not parsed or not truth:
        return False
    parsed = str(parsed).strip()
    return bool(parsed) and grade_answer(parsed, str(truth))


def evaluate_aime(parsed: int | None, truth: Any) -> bool:
    if parsed is None:
        return False
    try:
        return int(parsed) == int(truth)
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Check:
    """How one sub-dataset's answers are read (``parse``) and judged (``judge``)."""

    parse: Callable[[str], Any]
    judge: Callable[[Any, Any], bool]


def find_check(checks: dict[str, Check], dataset: Any) -> tuple[str, Check]:
    """The first check whose key is in the lower-cased sub-dataset name (the references'
    ``get_evaluator`` order), or a ValueError."""
    name = clean(dataset).lower()
    if not name:
        raise ValueError("a sample has no sub-dataset name")
    for key, check in checks.items():
        if key in name:
            return key, check
    raise ValueError(f"no evaluator for sub-dataset {dataset!r} (known: {', '.join(checks)})")


def judge(check: Check, key: str, output: str, truth: Any) -> tuple[bool, bool]:
    """(correct, scored) for one answer; code answers are never scored here."""
    extracted = check.parse(output)
    if key == CODE:
        return False, False
    if extracted is None or missing(truth):
        return False, True
    try:
        return bool(check.judge(extracted, truth)), True
    except Exception:  # noqa: BLE001 - the references count a failing check as wrong
        return False, True
