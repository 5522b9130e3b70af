"""MLPerf compliance tests TEST01, TEST04, TEST05 and TEST06 (the LLMs' output
consistency): the official audit.config of each, a run with it in the test's own run
directory, and the verification against the submission run with the official
thresholds, written as ``verify_accuracy.txt`` / ``verify_performance.txt`` in the
official format."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import atomic_write_text
from perfpilot.engine.logparse import read_detail
from perfpilot.errors import UsageError
from perfpilot.records import RunRecord
from perfpilot.submission import rounds
from perfpilot.workspace import Workspace

TESTS = ("TEST01", "TEST04", "TEST05", "TEST06")
TEST01_SEED = 720381539243781796
#: ``accuracy_log_sampling_target`` of TEST01's audit.config, per MLPerf model.
TEST01_SAMPLING = {"retinanet": 256, "3d-unet-99": 64, "3d-unet-99.9": 64}
TEST01_DEFAULT_SAMPLING = 4096
#: The dtype of the first element of a response, per perfpilot task metric.
RESPONSE_DTYPE = {"top-1": "int32", "F1": "float32"}
#: The official metric key in the detail log, per scenario (verify_performance.py).
RESULT_FIELD = {
    "Offline": "result_samples_per_second",
    "SingleStream": "early_stopping_latency_ss",
    "MultiStream": "early_stopping_latency_ms",
    "Server": "result_completed_samples_per_sec",
}
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
_HEADER = (
    "# The format of this config file is 'key = value'.\n"
    "# The key has the format 'model.scenario.key'. Value is mostly int64_t.\n"
    "# Model maybe '*' as wildcard. In that case the value applies to all models.\n"
    "# All times are in milli seconds\n"
)


def check_test(test: str, round_name: str | None = None, mlperf_model: str | None = None) -> str:
    """The canonical test name; UsageError for unknown tests or one the round dropped."""
    name = test.upper()
    if name not in TESTS:
        raise UsageError(f"unknown compliance test {test!r}", f"Use one of: {', '.join(TESTS)}.")
    if round_name and mlperf_model and name == "TEST05":
        rules = rounds.get_round(round_name)
        if name not in rules.model(mlperf_model).compliance:
            raise UsageError(
                f"{name} is not part of round {rules.name} for {mlperf_model}",
                "Required: " + ", ".join(rules.required_compliance(mlperf_model)) + ".",
            )
    return name


def audit_config(test: str, mlperf_model: str) -> str:
    """The official audit.config text of ``test`` (TEST01's sampling depends on the model)."""
    if test == "TEST01":
        target = TEST01_SAMPLING.get(mlperf_model, TEST01_DEFAULT_SAMPLING)
        return (
            _HEADER + "\n# mode dictionary (0 = submission, 1 = accuracy, 2 = performance, "
            "3 = find peak perf)\n"
            + "*.*.mode = 2\n"
            + f"*.*.accuracy_log_rng_seed = {TEST01_SEED}\n"
            + f"*.*.accuracy_log_sampling_target = {target}\n"
        )
    if test == "TEST04":
        lines = []
        for scen in ("MultiStream", "Offline", "SingleStream", "Server"):
            lines += [
                f"*.{scen}.mode = 2",
                f"*.{scen}.performance_issue_unique = 0",
                f"*.{scen}.performance_issue_same = 1",
                f"*.{scen}.performance_issue_same_index = 3",
            ]
        return _HEADER + "\n".join(lines) + "\n"
    if test == "TEST05":
        return _HEADER + "\n*.*.test05 = 1\n"
    if test == "TEST06":
        from perfpilot.submission.test06 import AUDIT_CONFIG

        return _HEADER + "\n" + AUDIT_CONFIG
    raise UsageError(f"unknown compliance test {test!r}", f"Use one of: {', '.join(TESTS)}.")


@dataclass
class Verification:
    """The outcome of one verify script: its file name, text, and verdict."""

    name: str  # verify_accuracy.txt / verify_performance.txt
    text: str
    passed: bool
    figures: str = ""  # performance: the scores and the allowed range, for messages

    def line(self) -> str:
        """The verdict (the file's last line) with the figures behind it."""
        verdict = self.text.strip().splitlines()[-1] if self.text.strip() else "no verdict"
        what = "performance" if "performance" in self.name else "accuracy"
        return f"{what}: {verdict}" + (f" ({self.figures})" if self.figures else "")


def _threshold(scenario: str, ref_score: float) -> float:
    small = (scenario == "SingleStream" and ref_score <= 200000) or (
        scenario == "MultiStream" and ref_score <= 1600000
    )
    return 0.20 if small else 0.10


def _fmt(value: float) -> str:
    return repr(float(value))


def _figures(scenario: str, ref: float, test: float, allowed: str, latency: bool) -> str:
    """``test 4,995.6 vs reference 3,963.6 samples/s, +26.0%; allowed: up to +20%``."""
    if latency:  # the detail log's early-stopping latencies, in ns
        ref, test, unit = ref / 1e6, test / 1e6, "ms"
    else:
        unit = "queries/s" if scenario in ("SingleStream", "MultiStream") else "samples/s"
    change = (test / ref - 1.0) * 100.0 if ref else 0.0
    return (
        f"{scenario} test {test:,.3f} vs reference {ref:,.3f} {unit}, {change:+.1f}%; "
        f"allowed: {allowed}"
    )


def _detail_score(run_dir: Path) -> tuple[str, float | None, Any, str | None]:
    """(scenario, score, server target latency, failure) from a detail log."""
    detail = read_detail(run_dir / "mlperf_log_detail.txt")
    scenario = str(detail.get("effective_scenario"))
    if detail.get("result_validity") != "VALID":
        return scenario, None, None, f"TEST FAIL: Invalid results in {run_dir}"
    raw = detail.get(RESULT_FIELD.get(scenario, ""))
    if raw is None:
        return scenario, None, None, f"TEST FAIL: no {scenario} result in {run_dir}"
    return scenario, float(raw), detail.get("effective_target_latency_ns"), None


def verify_performance_detail(reference: Path, test: Path) -> Verification:
    """TEST01/TEST05: the test's score within +-10% (20% for small latencies) of the
    reference's, both read from the detail logs' official result keys."""
    lines = ["Verifying performance."]
    ref_scen, ref_score, ref_lat, fail = _detail_score(reference)
    test_scen, test_score, test_lat, fail2 = _detail_score(test)
    fail = fail or fail2
    if fail is None and ref_scen != test_scen:
        fail = "TEST FAIL: Test and reference scenarios do not match!"
    if fail is None and ref_scen == "Server" and ref_lat != test_lat:
        fail = "TEST FAIL: Server target latency mismatch"
    if fail is not None or ref_score is None or test_score is None:
        lines.append(fail or "TEST FAIL")
        return Verification("verify_performance.txt", "\n".join(lines) + "\n", False)
    lines += [f"reference score = {_fmt(ref_score)}", f"test score = {_fmt(test_score)}"]
    thr = _threshold(ref_scen, ref_score)
    passed = ref_score * (1 - thr) <= test_score <= ref_score * (1 + thr)
    lines.append("TEST PASS" if passed else "TEST FAIL: Test score invalid")
    latency = ref_scen in ("SingleStream", "MultiStream")
    figures = _figures(ref_scen, ref_score, test_score, f"within +-{thr:.0%}", latency)
    return Verification("verify_performance.txt", "\n".join(lines) + "\n", passed, figures)


_ES_SINGLE = re.compile(r".*Early stopping (90th|90\.0th|99\.9th) percentile estimate")
_ES_MULTI = re.compile(r".*Early stopping (99th|99\.0th) percentile estimate")


def _summary_score(path: Path) -> tuple[str, float | None, str | None, bool]:
    """(scenario, score, server target latency, valid) the way TEST04's script reads a
    summary: SingleStream/MultiStream as 1e9 / early-stopping latency."""
    mode, score, target, valid = "", None, None, True
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Scenario"):
            mode = line.split(": ", 1)[1].strip()
        elif mode == "SingleStream" and _ES_SINGLE.match(line):
            score = 1e9 / float(line.split(": ", 1)[1])
        elif mode == "MultiStream" and _ES_MULTI.match(line):
            score = 1e9 / float(line.split(": ", 1)[1])
        elif mode == "Server" and line.startswith("Completed samples per second"):
            score = float(line.split(": ", 1)[1])
        elif mode == "Server" and line.startswith("target_latency (ns)"):
            target = line.split(": ", 1)[1].strip()
        elif mode == "Offline" and line.startswith("Samples per second"):
            score = float(line.split(": ", 1)[1])
        elif line.startswith("Result is"):
            valid = line.split(": ", 1)[1].strip() == "VALID"
    return mode, score, target, valid


def verify_performance_summary(reference: Path, test: Path) -> Verification:
    """TEST04: passes when the test (the same sample again and again) is not faster than
    the reference by more than 10% (20% for small latencies)."""
    lines = ["Verifying performance."]
    ref_mode, ref_score, ref_target, ref_valid = _summary_score(
        reference / "mlperf_log_summary.txt"
    )
    test_mode, test_score, test_target, _ = _summary_score(test / "mlperf_log_summary.txt")
    fail = None
    if not ref_valid:
        fail = "TEST FAIL: Reference results are invalid"
    elif ref_mode == "Server" and ref_target != test_target:
        fail = "TEST FAIL: Server target latency mismatch"
    elif test_mode != ref_mode:
        fail = "Test and reference scenarios do not match!"
    elif ref_score is None or test_score is None:
        fail = "TEST FAIL: no score in the summary logs"
    if fail is not None or ref_score is None or test_score is None:
        lines.append(fail or "TEST FAIL")
        return Verification("verify_performance.txt", "\n".join(lines) + "\n", False)
    lines += [f"reference score = {_fmt(ref_score)}", f"test score = {_fmt(test_score)}"]
    thr = _threshold(ref_mode, ref_score)
    passed = test_score < ref_score * (1 + thr)
    lines.append("TEST PASS" if passed else "TEST FAIL: Test score invalid")
    allowed = f"under +{thr:.0%} (the same sample again must not be faster)"
    figures = _figures(ref_mode, ref_score, test_score, allowed, latency=False)
    return Verification("verify_performance.txt", "\n".join(lines) + "\n", passed, figures)


def _load_log(path: Path) -> list[dict[str, Any]]:
    from perfpilot.tasks.common.accuracy_log import read_accuracy_log

    return [dict(r) for r in read_accuracy_log(path)]


def verify_accuracy(reference_log: Path, test_log: Path, dtype: str = "byte") -> Verification:
    """TEST01: every sampled response's first element equals the accuracy run's response
    for the same sample (counters as the official script prints them)."""
    acc = _load_log(reference_log)
    perf = _load_log(test_log)
    np_dtype = {"byte": np.byte, "float32": np.float32, "int32": np.int32, "int64": np.int64}[dtype]
    seen: dict[int, str] = {}
    dup = acc_mismatch = match = perf_mismatch = missing = 0
    for rec in acc:
        idx, data = int(rec["qsl_idx"]), str(rec["data"])
        if idx in seen:
            dup += 1
            acc_mismatch += seen[idx] != data
        else:
            seen[idx] = data
    for rec in perf:
        idx = int(rec["qsl_idx"])
        mine = np.frombuffer(bytes.fromhex(str(rec["data"])), np_dtype)
        if idx in seen:
            match += 1
            theirs = np.frombuffer(bytes.fromhex(seen[idx]), np_dtype)
            if mine.size == 0 or theirs.size == 0:
                perf_mismatch += mine.size != theirs.size
            elif mine[0] != theirs[0]:
                perf_mismatch += 1
        else:
            missing += 1
        seen[idx] = str(rec["data"])
    passed = perf_mismatch == 0 and match > 0
    text = "\n".join(
        [
            "Verifying accuracy. This might take a while...",
            "Reading accuracy mode results...",
            "Reading performance mode results...",
            f"num_acc_log_entries = {len(acc)}",
            f"num_acc_log_duplicate_keys = {dup}",
            f"num_acc_log_data_mismatch = {acc_mismatch}",
            f"num_perf_log_entries = {len(perf)}",
            f"num_perf_log_qsl_idx_match = {match}",
            f"num_perf_log_data_mismatch = {perf_mismatch}",
            f"num_missing_qsl_idxs = {missing}",
            "TEST PASS" if passed else "TEST FAIL",
            "",
        ]
    )
    return Verification("verify_accuracy.txt", text, passed)


def accuracy_fallback(
    reference_log: Path, test_log: Path, labels: np.ndarray, dtype: str, out_dir: Path
) -> tuple[bool, float, float]:
    """TEST01's fallback: score the accuracy run's responses for the sampled indices
    (baseline) and the sampled responses (compliance) with the top-1 script; write
    ``baseline_accuracy.txt`` and ``compliance_accuracy.txt`` into ``out_dir``. Passes when
    they differ by at most 1 point (percent of the baseline)."""
    from perfpilot.tasks.common.classification import score_top1

    perf = _load_log(test_log)
    wanted = {int(r["qsl_idx"]) for r in perf}
    baseline = [r for r in _load_log(reference_log) if int(r["qsl_idx"]) in wanted]
    with tempfile.TemporaryDirectory() as tmp:
        base_path = Path(tmp) / "baseline.json"
        base_path.write_text(json.dumps(baseline))
        base = score_top1(base_path, labels, dtype)
    comp = score_top1(test_log, labels, dtype)
    atomic_write_text(out_dir / "baseline_accuracy.txt", base.line() + "\n")
    atomic_write_text(out_dir / "compliance_accuracy.txt", comp.line() + "\n")
    delta = abs(base.accuracy - comp.accuracy)
    return delta <= 0.01 * base.accuracy, base.accuracy, comp.accuracy


@dataclass
class ComplianceResult:
    """A compliance test's run and its verification files (in the run directory)."""

    test: str
    record: RunRecord
    reference: RunRecord
    verifications: list[Verification] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        # TEST06 judges the logged answers: its 100-query run need not be VALID
        ran = self.record.status == "ok" if self.test == "TEST06" else self.record.ok
        return ran and all(v.passed for v in self.verifications)

    @property
    def run_dir(self) -> Path:
        return Path(self.record.run_dir)


def verify(
    test: str,
    record: RunRecord,
    reference: RunRecord,
    accuracy: RunRecord | None,
    labels: np.ndarray | None = None,
    dtype: str = "int32",
    eos_token_id: int | None = None,
) -> ComplianceResult:
    """Verify a finished compliance run against its references; writes the verify files
    (and TEST01's fallback files) into the compliance run's directory. TEST06 judges the
    logged answers alone (``eos_token_id``: the model's end of sequence)."""
    run_dir = Path(record.run_dir)
    ref_dir = Path(reference.run_dir)
    result = ComplianceResult(test, record, reference)
    if test == "TEST06":
        from perfpilot.submission import test06

        if record.status != "ok":
            result.notes.append(f"the TEST06 run failed ({record.error})")
        if eos_token_id is None:
            raise UsageError(
                "TEST06 needs the model's end-of-sequence token id",
                "Run it with the model's Hugging Face folder (--model-path), whose "
                "generation_config.json or config.json names eos_token_id.",
            )
        verdict = test06.verify_log(
            run_dir / "mlperf_log_accuracy.json", record.scenario, eos_token_id, "int32"
        )
        text = verdict.text()
        atomic_write_text(run_dir / "verify_accuracy.txt", text)
        result.verifications.append(Verification("verify_accuracy.txt", text, verdict.passed))
        return result
    if not record.ok:
        result.notes.append(f"the {test} run itself is not VALID ({record.error or 'INVALID'})")
    if test == "TEST01":
        if accuracy is None:
            raise UsageError(
                "TEST01 needs the accuracy run of the same scenario to compare with",
                "Run the accuracy test first (perfpilot run --mode accuracy).",
            )
        acc = verify_accuracy(
            Path(accuracy.run_dir) / "mlperf_log_accuracy.json",
            run_dir / "mlperf_log_accuracy.json",
            dtype,
        )
        if not acc.passed and labels is not None:
            ok, base, comp = accuracy_fallback(
                Path(accuracy.run_dir) / "mlperf_log_accuracy.json",
                run_dir / "mlperf_log_accuracy.json",
                labels,
                dtype,
                run_dir,
            )
            result.notes.append(
                f"responses differ; fallback accuracy baseline {base:.3f}% vs compliance "
                f"{comp:.3f}%: {'PASS' if ok else 'FAIL'}"
            )
            acc = Verification(acc.name, acc.text, ok)
        atomic_write_text(run_dir / acc.name, acc.text)
        result.verifications.append(acc)
    if test == "TEST04":
        perf = verify_performance_summary(ref_dir, run_dir)
    else:
        perf = verify_performance_detail(ref_dir, run_dir)
    atomic_write_text(run_dir / perf.name, perf.text)
    result.verifications.append(perf)
    return result


def pin_config(cfg: Any, reference: RunRecord) -> Any:
    """``cfg`` as a performance run with the submission run's expected values (the same
    user.conf values), so the test measures the same load."""
    pinned: dict[str, Any] = {"mode": "performance"}
    settings = reference.loadgen_settings or {}
    for key in ("target_qps", "target_latency_ms", "samples_per_query"):
        if getattr(cfg, key) is None and settings.get(key) is not None:
            pinned[key] = settings[key]
    return cfg.model_copy(update=pinned)


def run_compliance(
    test: str,
    cfg: Any,
    reference: RunRecord,
    accuracy: RunRecord | None,
    workspace: Workspace,
    mlperf_model: str,
    command: Sequence[str] = (),
    progress: Any = None,
    tags: Mapping[str, str] | None = None,
) -> ComplianceResult:
    """Run ``test`` with the performance config ``cfg`` (audit.config in its own run
    directory only), then verify it against ``reference`` (and ``accuracy`` for TEST01)."""
    import secrets
    import time

    from perfpilot.engine.runner import prepare_shown, run_one

    test = check_test(test)
    if test == "TEST01" and accuracy is None:
        raise UsageError(
            f"TEST01 needs an accuracy run of {cfg.model} {cfg.scenario} to compare with",
            "Run it first: perfpilot run --mode accuracy (or pass --accuracy-run RUN_ID).",
        )
    cfg = pin_config(cfg, reference)
    prepared = prepare_shown(cfg, progress)
    session = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    all_tags = {**(tags or {}), "compliance": test, "reference_run": reference.run_id}
    record = run_one(
        cfg,
        prepared,
        workspace,
        session,
        command,
        progress,
        tags=all_tags,
        audit_config=audit_config(test, mlperf_model),
    )
    labels = prepared.dataset.labels() if prepared.task.metric == "top-1" else None
    dtype = RESPONSE_DTYPE.get(prepared.task.metric, "byte")
    eos = eos_token_id(prepared.model_file) if test == "TEST06" else None
    return verify(test, record, reference, accuracy, labels, dtype, eos)


def eos_token_id(model_folder: Path | None) -> int | None:
    """The end-of-sequence token id a Hugging Face folder names (generation_config.json
    first, as generation uses it; the first where it lists several)."""
    if model_folder is None or not model_folder.is_dir():
        return None
    for name in ("generation_config.json", "config.json"):
        try:
            value = json.loads((model_folder / name).read_text()).get("eos_token_id")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, int):
            return value
    return None


def place(test: str, run_dir: Path, dest: Path) -> Path:
    """Copy a verified compliance run into ``dest/<test>/`` the way the official scripts
    lay it out: verify files, ``accuracy/`` (TEST01) and ``performance/run_1/`` logs."""
    target = dest / test
    if test == "TEST06":  # no performance logs: the verdicts and the logged samples
        (target / "accuracy").mkdir(parents=True, exist_ok=True)
        shutil.copy2(run_dir / "verify_accuracy.txt", target / "verify_accuracy.txt")
        shutil.copy2(run_dir / "mlperf_log_accuracy.json", target / "accuracy")
        return target
    (target / "performance" / "run_1").mkdir(parents=True, exist_ok=True)
    for name in ("verify_accuracy.txt", "verify_performance.txt"):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, target / name)
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        shutil.copy2(run_dir / name, target / "performance" / "run_1" / name)
    if test == "TEST01":
        (target / "accuracy").mkdir(exist_ok=True)
        shutil.copy2(run_dir / "mlperf_log_accuracy.json", target / "accuracy")
        for name in ("baseline_accuracy.txt", "compliance_accuracy.txt"):
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, target / "accuracy" / name)
    return target


def failed_verifications(folder: Path) -> list[str]:
    """The verify files in ``folder`` that do not say ``TEST PASS`` (what the official
    checker looks for; TEST06's says ``TEST06 verification complete``), by name."""
    passes = ("TEST PASS", "TEST06 verification complete")
    return [
        name
        for name in ("verify_accuracy.txt", "verify_performance.txt")
        if (folder / name).exists()
        and not any(p in (folder / name).read_text(errors="replace") for p in passes)
    ]


def find_reference(
    workspace: Workspace,
    model: str,
    backend: str,
    scenario: str,
    mode: str,
    run_id: str | None = None,
) -> RunRecord:
    """The run a compliance test compares with: ``run_id`` if given, else the newest
    passing run of model x backend x scenario in ``mode`` that is not itself a test."""
    if run_id:
        rec = workspace.load(run_id)
        if rec.scenario != scenario or rec.mode != mode:
            raise UsageError(
                f"run {rec.run_id} is a {rec.scenario} {rec.mode} run, not {scenario} {mode}",
                "Pass a run of the same scenario and mode.",
            )
        return rec
    found = [
        r
        for r in workspace.records()
        if r.config.get("model") == model
        and r.config.get("backend") == backend
        and r.scenario == scenario
        and r.mode == mode
        and "compliance" not in r.tags
        and r.ok
    ]
    if not found:
        raise UsageError(
            f"no passing {scenario} {mode} run of {model} on {backend} in the workspace",
            f"Run it first: perfpilot run --model {model} --backend {backend} "
            f"--scenario {scenario} --mode {mode}.",
        )
    return found[-1]
