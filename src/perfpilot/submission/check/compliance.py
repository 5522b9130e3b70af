"""Compliance rules (closed and network divisions): every TEST0x the round requires of the
model is there, passed, and holds its logs; its performance run meets the performance
rules (TEST05 with the round's TEST05 seeds). The LLM tests have no performance run of
their own: TEST06 (first-token consistency, EOS and output-length checks of
verify_accuracy.txt), TEST07 (accuracy in performance mode) and TEST09 (output lengths)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from perfpilot.submission.check.context import Context
from perfpilot.submission.check.files import (
    OPTIONAL_PERF_FILES,
    REQUIRED_PERF_FILES,
    check_folder_files,
)
from perfpilot.submission.check.performance import PerfRun, check_run
from perfpilot.submission.rounds import ModelRules
from perfpilot.submission.tree import ComplianceTest, ScenarioEntry, is_file


@dataclass(frozen=True)
class ComplianceFolder:
    """One placed TEST0x folder of a result, with the model's rules."""

    entry: ScenarioEntry
    mrules: ModelRules
    test: ComplianceTest

    @property
    def path(self) -> Path:
        return self.entry.compliance_dir / self.test.name

    @property
    def run(self) -> Path:
        return self.path / "performance" / "run_1"


# A compliance rule returns False when the test cannot count as passed (the summary's
# compliance flag); findings of the test's own run do not change that flag.
ComplianceRule = Callable[[Context, ComplianceFolder], bool]


# Tests with a LoadGen performance run and a verify_performance.txt of their own.
PERF_TESTS = ("TEST01", "TEST04", "TEST05")


def verify_performance(ctx: Context, cf: ComplianceFolder) -> bool:
    if cf.test.name not in PERF_TESTS:
        return True
    verify = cf.path / "verify_performance.txt"
    if not is_file(verify):
        ctx.add("compliance-files", verify, "verify_performance.txt is missing")
        return False
    if "TEST PASS" not in verify.read_text(errors="replace"):
        ctx.add("compliance-failed", verify, f"{cf.test.name} performance check did not pass")
        return False
    return True


def run_files(ctx: Context, cf: ComplianceFolder) -> bool:
    if cf.test.name not in PERF_TESTS:
        return True
    check_folder_files(ctx, cf.run, REQUIRED_PERF_FILES, OPTIONAL_PERF_FILES)
    return True


def run_performance(ctx: Context, cf: ComplianceFolder) -> bool:
    if cf.test.performance is not None and cf.test.name in PERF_TESTS:
        seeds = ctx.rules.test05_seeds if cf.test.name == "TEST05" else None
        check_run(
            ctx,
            PerfRun(
                cf.test.performance,
                cf.run,
                cf.mrules,
                cf.entry.division,
                seeds,
                scenario=cf.entry.scenario,
                measurements=cf.entry.measurements_dir,
                compliance=True,
            ),
        )
    return True


def test01_accuracy(ctx: Context, cf: ComplianceFolder) -> bool:
    """TEST01 also verifies accuracy; a failed one must keep both accuracy results."""
    if cf.test.name != "TEST01":
        return True
    verify = cf.path / "verify_accuracy.txt"
    if not is_file(verify):
        ctx.add("compliance-files", verify, "verify_accuracy.txt is missing")
        return False
    passed = "TEST PASS" in verify.read_text(errors="replace")
    needed: tuple[str, ...] = ("mlperf_log_accuracy.json", "accuracy.txt")
    if not passed:
        needed += ("baseline_accuracy.txt", "compliance_accuracy.txt")
    before = len(ctx.findings)
    check_folder_files(ctx, cf.path / "accuracy", needed, ())
    return len(ctx.findings) == before


# The three verdicts of compliance/TEST06 (first token Skipped in Offline, which streams
# no first token), as its verify_accuracy.txt writes them.
_TEST06_CHECKS = (
    ("first-token", ("First token check pass: True", "First token check pass: Skipped")),
    ("EOS", ("EOS check pass: True",)),
    ("sample-length", ("Sample length check pass: True",)),
)


def test06_verdicts(ctx: Context, cf: ComplianceFolder) -> bool:
    """TEST06: the first token streamed equals the output's first token, the output does
    not end in repeated EOS tokens, and each output holds the token count reported."""
    if cf.test.name != "TEST06":
        return True
    verify = cf.path / "verify_accuracy.txt"
    if not is_file(verify):
        ctx.add("compliance-files", verify, "verify_accuracy.txt is missing")
        return False
    lines = {line.strip() for line in verify.read_text(errors="replace").splitlines()}
    failed = [name for name, passes in _TEST06_CHECKS if not lines & set(passes)]
    if failed:
        ctx.add(
            "compliance-failed",
            verify,
            f"TEST06 failed its {', '.join(failed)} check{'s' if len(failed) > 1 else ''}",
        )
        return False
    return True


def _test_pass(ctx: Context, cf: ComplianceFolder, test: str, name: str, what: str) -> bool:
    if cf.test.name != test:
        return True
    verify = cf.path / name
    if not is_file(verify):
        ctx.add("compliance-files", verify, f"{name} is missing")
        return False
    if "TEST PASS" not in verify.read_text(errors="replace"):
        ctx.add("compliance-failed", verify, f"{test} {what} check did not pass")
        return False
    return True


def test07_accuracy(ctx: Context, cf: ComplianceFolder) -> bool:
    """TEST07: accuracy measured in performance mode."""
    return _test_pass(ctx, cf, "TEST07", "verify_accuracy.txt", "accuracy-in-performance-mode")


def test09_output_len(ctx: Context, cf: ComplianceFolder) -> bool:
    """TEST09: output token lengths in performance mode."""
    return _test_pass(ctx, cf, "TEST09", "verify_output_len.txt", "output-length")


RULES: tuple[ComplianceRule, ...] = (
    verify_performance,
    run_files,
    run_performance,
    test01_accuracy,
    test06_verdicts,
    test07_accuracy,
    test09_output_len,
)


def check_compliance(ctx: Context, entry: ScenarioEntry, mrules: ModelRules) -> bool:
    """Apply RULES to each TEST0x the model requires; whether all are there and passed."""
    ok = True
    for name in mrules.compliance:
        found = entry.compliance.get(name)
        if found is None:
            ctx.add("compliance-missing", entry.compliance_dir / name, f"{name} is missing")
            ok = False
            continue
        cf = ComplianceFolder(entry, mrules, found)
        for rule in RULES:
            ok &= rule(ctx, cf)
    return ok
