"""Accuracy rules: accuracy.txt reaches the model's targets (every metric of an LLM: ROUGE
or exact match, and the generated length inside its window) and carries the hash of the
(truncated) accuracy log, and the accuracy run covered the whole dataset."""

from __future__ import annotations

import re
from collections.abc import Callable

from perfpilot.submission.check.context import Context
from perfpilot.submission.check.findings import ERROR, WARNING
from perfpilot.submission.check.values import detail_int
from perfpilot.submission.rounds import ModelRules
from perfpilot.submission.tree import AccuracyFile, ScenarioEntry, files, is_dir, is_file

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# The cut a truncated log carries (with the CRLF line ends of a log truncated on Windows).
_TRUNCATED = re.compile(rb"\r?\n\r?\n\.\.\.\r?\n\r?\n")

# An accuracy rule gets the result, its accuracy.txt and the model's rules (None for a
# model the round does not know).
AccuracyRule = Callable[[Context, ScenarioEntry, AccuracyFile, ModelRules | None], None]


def targets(
    ctx: Context, entry: ScenarioEntry, acc: AccuracyFile, mrules: ModelRules | None
) -> None:
    sev = ctx.sev(entry.division)
    upper = dict(mrules.accuracy_upper) if mrules else {}
    for metric, target in mrules.accuracy_for(entry.scenario) if mrules else []:
        value = acc.value(metric)
        if value is None:
            ctx.add(
                "accuracy-unreadable",
                acc.path,
                f"no {metric} line in the format of the official accuracy script",
            )
        elif metric in upper:
            continue  # a window (generated length): length_window reports it
        elif value < target:
            ctx.add(
                "accuracy-below-target",
                acc.path,
                f"{metric} {acc.values[metric]} is below the target {target:.4f}",
                sev,
            )


def length_window(
    ctx: Context, entry: ScenarioEntry, acc: AccuracyFile, mrules: ModelRules | None
) -> None:
    """Generated length (GEN_LEN, TOKENS_PER_SAMPLE) inside the round's window: at least
    its lower target where there is one, never above its upper limit."""
    if mrules is None:
        return
    lower = dict(mrules.accuracy)
    for metric, top in mrules.accuracy_upper:
        value = acc.value(metric)
        low = lower.get(metric)
        if value is None or ((low is None or value >= low) and value <= top):
            continue
        window = f"[{low:g}, {top:g}]" if low is not None else f"at most {top:g}"
        ctx.add(
            "accuracy-length",
            acc.path,
            f"{metric} {acc.values[metric]} is outside the allowed generated length {window}",
            ctx.sev(entry.division),
        )


def hash_line(
    ctx: Context, entry: ScenarioEntry, acc: AccuracyFile, mrules: ModelRules | None
) -> None:
    """The hash line is a sha256, and that of the log while it is not truncated yet."""
    log = entry.accuracy_dir / "mlperf_log_accuracy.json"
    if acc.hash is None:
        ctx.add("accuracy-hash-missing", acc.path, "no 'hash=' line")
    elif not _HEX64.match(acc.hash):
        ctx.add("accuracy-hash-bad", acc.path, f"hash line '{acc.hash[:20]}' is not a sha256")
    elif is_file(log) and not _TRUNCATED.search(log.read_bytes()):
        from perfpilot.artifacts.files import sha256_file

        if sha256_file(log) != acc.hash:
            ctx.add(
                "accuracy-hash-bad",
                acc.path,
                "hash line does not match mlperf_log_accuracy.json",
            )


def log_truncated(
    ctx: Context, entry: ScenarioEntry, acc: AccuracyFile, mrules: ModelRules | None
) -> None:
    log = entry.accuracy_dir / "mlperf_log_accuracy.json"
    limit = int(ctx.common["max_accuracy_log_bytes"])
    if is_file(log) and log.stat().st_size > limit:
        ctx.add(
            "accuracy-log-not-truncated",
            log,
            f"{log.stat().st_size} bytes (at most {limit} once truncated)",
        )


def loadgen_errors(
    ctx: Context, entry: ScenarioEntry, acc: AccuracyFile, mrules: ModelRules | None
) -> None:
    alog = entry.accuracy_log
    if alog is not None and alog.errors:
        ctx.add(
            "accuracy-loadgen-errors",
            entry.accuracy_dir / "mlperf_log_detail.txt",
            f"LoadGen errors: {'; '.join(alog.errors[:3])}",
        )


def dataset_size(
    ctx: Context, entry: ScenarioEntry, acc: AccuracyFile, mrules: ModelRules | None
) -> None:
    if entry.accuracy_log is None:
        return
    folder = entry.accuracy_dir
    # As the official checker: the v6.0+ key when LoadGen logs it, else the QSL size.
    total = detail_int(folder, "effective_accuracy_sample_count")
    if total is None:
        total = detail_int(folder, "qsl_reported_total_count")
    # gpt-oss-120b: the accuracy run covers a fixed subset (accuracy_sample_count)
    want = None
    if mrules is not None:
        want = (
            mrules.accuracy_sample_count_by_scenario.get(entry.scenario)
            or mrules.accuracy_sample_count
            or mrules.dataset_size
        )
    if want and total is not None and total != want:
        ctx.add(
            "accuracy-dataset-size",
            folder / "mlperf_log_detail.txt",
            f"accuracy run covered {total} samples, the rules need {want}",
            # v6.x: the official (modular) checker fails the result in every
            # division. Up to v5.1 it only logged it: perfpilot fails closed
            # submissions and warns for the open division there.
            ctx.sev(entry.division, "accuracy-dataset-size")
            if ctx.rules.layout == "v6"
            else WARNING
            if entry.division == "open"
            else ERROR,
        )


def extra_files(
    ctx: Context, entry: ScenarioEntry, acc: AccuracyFile, mrules: ModelRules | None
) -> None:
    """The files the round wants beside accuracy.txt (sdxl: the sample images and their
    captions), as the official checker lists them. Like an accuracy miss, only a
    warning in the open division (the official checker takes such results for open)."""
    if mrules is None:
        return
    # the modular checker (v6.x) refuses such a result in the open division too
    sev = ERROR if ctx.rules.layout == "v6" else ctx.sev(entry.division)
    suffix = {"videos": "mp4"}
    for folder, stems in mrules.accuracy_files.items():
        where = entry.accuracy_dir / folder
        if not is_dir(where):
            ctx.add("accuracy-files", where, f"the {folder}/ folder is missing", sev)
            continue
        present = {p.name.split(".")[0] for p in files(where)}
        missing = [s for s in stems if s not in present]
        if missing:
            ctx.add(
                "accuracy-files",
                where,
                f"{len(missing)} file(s) missing, first {missing[0]}.{suffix.get(folder, 'png')}",
                sev,
            )


RULES: tuple[AccuracyRule, ...] = (
    targets,
    extra_files,
    length_window,
    hash_line,
    log_truncated,
    loadgen_errors,
    dataset_size,
)


def check_accuracy(ctx: Context, entry: ScenarioEntry, mrules: ModelRules | None) -> None:
    """Apply RULES to the accuracy run of ``entry`` (none when accuracy.txt is unread)."""
    if entry.accuracy is None:
        return
    for rule in RULES:
        rule(ctx, entry, entry.accuracy, mrules)


def shown_accuracy(entry: ScenarioEntry, mrules: ModelRules | None) -> str:
    """The accuracy as the summary shows it: the value, or ``metric: value`` pairs."""
    acc = entry.accuracy
    if acc is None:
        return ""
    metrics = [m for m, _ in mrules.accuracy] if mrules else list(acc.values)
    shown = [acc.values[m] for m in metrics if m in acc.values]
    if len(shown) == 1:
        return shown[0]
    # as the official checker prints a dict of them: "ROUGE1: 38.9  ROUGE2: 16.0"
    return "  ".join(f"{m}: {acc.values[m]}" for m in metrics if m in acc.values)
