"""Compliance rules (closed and network divisions): every TEST0x the round requires of the
model is there, passed, and holds its logs; its performance run meets the performance
rules (TEST05 with the round's TEST05 seeds)."""

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


def verify_performance(ctx: Context, cf: ComplianceFolder) -> bool:
    verify = cf.path / "verify_performance.txt"
    if not is_file(verify):
        ctx.add("compliance-files", verify, "verify_performance.txt is missing")
        return False
    if "TEST PASS" not in verify.read_text(errors="replace"):
        ctx.add("compliance-failed", verify, f"{cf.test.name} performance check did not pass")
        return False
    return True


def run_files(ctx: Context, cf: ComplianceFolder) -> bool:
    check_folder_files(ctx, cf.run, REQUIRED_PERF_FILES, OPTIONAL_PERF_FILES)
    return True


def run_performance(ctx: Context, cf: ComplianceFolder) -> bool:
    if cf.test.performance is not None:
        seeds = ctx.rules.test05_seeds if cf.test.name == "TEST05" else None
        check_run(ctx, PerfRun(cf.test.performance, cf.run, cf.mrules, cf.entry.division, seeds))
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


RULES: tuple[ComplianceRule, ...] = (
    verify_performance,
    run_files,
    run_performance,
    test01_accuracy,
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
