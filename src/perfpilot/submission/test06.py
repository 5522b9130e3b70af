"""MLPerf compliance TEST06 for the LLM benchmarks: its audit.config, and the verdicts of
the test's accuracy log written as the official ``verify_accuracy.txt``.

TEST06 is a performance run of 100 logged samples. Three checks, each over every logged
sample (``mlperf_log_accuracy.json``: ``data`` the output tokens, ``token_data`` the
first token reported on its own, ``token_count`` the count reported to LoadGen):

- first token: the separately reported first token equals the output's first token
  (Skipped in Offline, where no first token is streamed);
- EOS: the output ends in at most one EOS token (no padding the count with EOS);
- sample length: the output holds as many tokens as reported.

``perfpilot submission check`` reads the three lines back (check/compliance.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import atomic_write_text
from perfpilot.errors import UsageError

# The official compliance/TEST06/audit.config, as settings.
AUDIT_CONFIG = (
    "*.*.mode = 2\n"
    "*.*.accuracy_log_rng_seed = 720381539243781796\n"
    "*.*.accuracy_log_sampling_target = 100\n"
    "*.*.min_query_count = 100\n"
    "*.*.min_duration = 0\n"
    "*.*.sample_concatenate_permutation = 0\n"
)
DTYPES = ("int64", "int32", "int16", "float32")


@dataclass(frozen=True)
class Test06Verdict:
    """The three checks (first_token None: skipped, Offline)."""

    first_token: bool | None
    eos: bool
    sample_length: bool

    @property
    def passed(self) -> bool:
        return self.first_token is not False and self.eos and self.sample_length

    def text(self) -> str:
        """``verify_accuracy.txt`` in the official format (the checker reads these lines)."""
        first = "Skipped" if self.first_token is None else str(self.first_token)
        return (
            f"First token check pass: {first}\n"
            f"EOS check pass: {self.eos}\n"
            f"Sample length check pass: {self.sample_length}\n"
            f"TEST06 verification {'complete' if self.passed else 'failed'}\n"
        )


def _tokens(hex_text: Any, dtype: str) -> np.ndarray[Any, Any]:
    return np.frombuffer(bytes.fromhex(str(hex_text)), dtype=np.dtype(dtype))


def _trailing_eos_ok(tokens: np.ndarray[Any, Any], eos: int) -> bool:
    # at most one EOS at the end; like the official script, the first token is not counted
    i, seen = len(tokens) - 1, 0
    while i > 0 and tokens[i] == eos:
        seen += 1
        if seen >= 2:
            return False
        i -= 1
    return True


def verify(
    samples: list[dict[str, Any]], scenario: str, eos_token_id: int, dtype: str
) -> Test06Verdict:
    """The verdicts of TEST06's logged samples (a check that cannot read a sample fails)."""
    if dtype not in DTYPES:
        raise UsageError(f"unknown token dtype '{dtype}'", f"Use one of: {', '.join(DTYPES)}.")

    def check(one: Any) -> bool:
        try:
            return all(one(s) for s in samples)
        except (KeyError, TypeError, ValueError):
            return False

    first: bool | None = None
    if scenario != "Offline":
        first = check(
            lambda s: bool(
                np.all(
                    _tokens(s["data"], dtype)[: len(_tokens(s["token_data"], dtype))]
                    == _tokens(s["token_data"], dtype)[: len(_tokens(s["data"], dtype))]
                )
            )
        )
    eos = check(lambda s: _trailing_eos_ok(_tokens(s["data"], dtype), eos_token_id))
    length = check(lambda s: len(_tokens(s["data"], dtype)) == int(s["token_count"]))
    return Test06Verdict(first, eos, length)


def verify_log(
    accuracy_log: Path, scenario: str, eos_token_id: int, dtype: str = "int32"
) -> Test06Verdict:
    """The verdicts of a TEST06 run's ``mlperf_log_accuracy.json``."""
    try:
        samples = json.loads(accuracy_log.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(
            f"cannot read TEST06's accuracy log {accuracy_log} ({err})",
            "Give the mlperf_log_accuracy.json of the TEST06 run.",
        ) from err
    if not isinstance(samples, list):
        raise UsageError(f"{accuracy_log} is not a LoadGen accuracy log", "It holds a list.")
    return verify(samples, scenario, eos_token_id, dtype)


def write_verdict(verdict: Test06Verdict, test_dir: Path) -> Path:
    """Write ``verify_accuracy.txt`` into the result's TEST06 folder."""
    path = test_dir / "verify_accuracy.txt"
    test_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, verdict.text())
    return path
