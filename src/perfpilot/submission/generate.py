"""Lay out an MLPerf submission tree from a campaign's runs, in the round's layout
(``v6``: src/, measurements and TEST0x inside each scenario folder; ``v4``: code/,
measurements/ and compliance/ beside results/). The tree is built in a temporary folder
and moved into place at the end: an existing tree is never overwritten."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfpilot import __version__
from perfpilot.errors import UsageError
from perfpilot.records import RunRecord
from perfpilot.submission import compliance, rounds
from perfpilot.submission import system as sysdesc

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
ACCURACY_FILES = (
    "accuracy.txt",
    "mlperf_log_accuracy.json",
    "mlperf_log_detail.txt",
    "mlperf_log_summary.txt",
)
PERFORMANCE_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")


@dataclass
class GenerateResult:
    """Where the tree went and what the user should know."""

    root: Path  # <out>/<division>/<submitter>
    system: str
    scenarios: list[str]
    missing_system_fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _check_name(value: str, what: str) -> str:
    if not _SAFE.match(value):
        raise UsageError(
            f"{what} {value!r} cannot be a folder name",
            "Use letters, digits, '.', '_', '+' and '-' (no spaces).",
        )
    return value


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).lower()


def check_same_system(data: dict[str, Any], records: list[RunRecord], source: str) -> None:
    """UsageError when the runs were measured on another machine than ``data`` describes."""
    hosts = {str(r.provenance.get("system", {}).get("hostname")) for r in records}
    if len(hosts) > 1:
        raise UsageError(
            f"the runs come from {len(hosts)} machines ({', '.join(sorted(hosts))})",
            "A submission's results must all come from the system it describes; rerun the "
            "campaign on one machine.",
        )
    want = _norm(data.get("host_processor_model_name", ""))
    for rec in records:
        cpu = _norm(rec.provenance.get("system", {}).get("cpu_model", ""))
        if want and cpu and want != cpu:
            raise UsageError(
                f"run {rec.run_id} ran on a {rec.provenance['system']['cpu_model']!r} CPU but "
                f"{source} describes {data.get('host_processor_model_name')!r}",
                "Use the system JSON of the machine that ran the campaign "
                "('perfpilot system describe' on it).",
            )
        device = rec.config.get("device", "cpu")
        accelerators = str(data.get("accelerators_per_node", "0")).strip() or "0"
        if device == "cuda" and accelerators in ("0", "N/A"):
            raise UsageError(
                f"run {rec.run_id} used a GPU but {source} lists no accelerator",
                "Describe the system again on the GPU machine.",
            )


def _measurements(plan: dict[str, Any], rec: RunRecord) -> dict[str, Any]:
    model_file = Path(rec.model.path).name if rec.model.path else rec.model.name
    data: dict[str, Any] = {
        "input_data_types": "fp32",
        "retraining": "No",
        "starting_weights_filename": model_file,
        "weight_data_types": "fp32",
        "weight_transformations": "No",
    }
    if plan.get("standin"):
        data["starting_weights_filename"] = f"{model_file} (perfpilot stand-in, random weights)"
        data["perfpilot_standin"] = True
    return data


def _readme(plan: dict[str, Any], scenario: str, perf: RunRecord, campaign: str) -> str:
    cfg = perf.config
    opts = [
        f"--model {cfg['model']}",
        f"--backend {cfg['backend']}",
        f"--device {cfg['device']}",
        f"--scenario {scenario}",
        "--mode both",
        f"--execution {cfg['execution']}",
        f"--batch-size {cfg['batch_size']}",
    ]
    for key, flag in (
        ("threads", "--threads"),
        ("backend_threads", "--backend-threads"),
        ("target_qps", "--target-qps"),
        ("target_latency_ms", "--target-latency-ms"),
        ("samples_per_query", "--samples-per-query"),
        ("dataset_size", "--dataset-size"),
        ("dataset_path", "--dataset-path"),
        ("model_path", "--model-path"),
        ("min_query_count", "--count"),
    ):
        if cfg.get(key) is not None:
            opts.append(f"{flag} {cfg[key]}")
    if cfg.get("min_duration_ms") is not None:
        opts.append(f"--min-duration {cfg['min_duration_ms'] / 1000:g}")
    lines = [
        f"# {plan['folder_model']} {scenario} with perfpilot {__version__}",
        "",
        "This result was produced with perfpilot on the official MLPerf LoadGen "
        f"(mlcommons-loadgen {rounds.loadgen_version() or 'unknown'}).",
        "",
        "## Reproduce this run",
        "",
        "```bash",
        "pip install perfpilot",
        "perfpilot run " + " ".join(opts),
        "```",
        "",
        "Or the whole campaign (all scenarios and compliance tests):",
        "",
        "```bash",
        f"perfpilot submission run --model {plan['model']} --backend {plan['backend']} "
        f"--category {plan['category']} --division {plan['division']} --round {plan['round']} "
        f"--execution {plan['execution']} --name {campaign}",
        "```",
        "",
        f"Performance run: {perf.run_id}.",
        "",
    ]
    return "\n".join(lines)


def _code_readme(plan: dict[str, Any]) -> str:
    return (
        f"# {plan['folder_model']}: perfpilot harness\n\n"
        f"The harness is perfpilot {__version__} (a Python tool on the official MLPerf "
        "LoadGen): its LoadGen SUT and QSL adapters, the "
        f"{plan['backend']} backend and the model's pre- and post-processing.\n\n"
        "```bash\npip install perfpilot\n"
        f"perfpilot submission plan --model {plan['model']} --category {plan['category']} "
        f"--division {plan['division']} --round {plan['round']}\n```\n"
    )


def _calibration(plan: dict[str, Any]) -> str:
    return (
        "# Calibration\n\n"
        f"{plan['folder_model']} runs with fp32 weights as published for the reference "
        "model: no quantization, so no calibration data set was used.\n"
    )


def _copy(files: tuple[str, ...], src: Path, dest: Path, required: bool = True) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in files:
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)
        elif required:
            raise UsageError(
                f"run folder {src} lacks {name}", "Rerun that test ('perfpilot submission run')."
            )


def generate(
    out: Path,
    submitter: str,
    system_json: Path,
    plan: dict[str, Any],
    runs: dict[str, RunRecord],
    campaign: str,
    division: str | None = None,
    round_name: str | None = None,
    system_id: str | None = None,
) -> GenerateResult:
    """Write ``<out>/<division>/<submitter>/`` from a campaign's plan and runs."""
    division = division or str(plan["division"])
    round_name = rounds.get_round(round_name or str(plan["round"])).name
    if division != plan["division"]:
        raise UsageError(
            f"campaign {campaign!r} was run for the {plan['division']} division, not {division}",
            f"Use --division {plan['division']} or run a campaign for {division}.",
        )
    if round_name != plan["round"]:
        raise UsageError(
            f"campaign {campaign!r} was run for round {plan['round']}, not {round_name}",
            f"Use --round {plan['round']}, or run a campaign for {round_name}.",
        )
    if division == "closed" and plan.get("execution") != "valid":
        raise UsageError(
            f"campaign {campaign!r} ran in 'test' execution mode: not a closed submission",
            "Run it again with --execution valid.",
        )
    _check_name(submitter, "submitter")
    rules = rounds.get_round(round_name)
    layout = rules.layout
    data = sysdesc.load_system_json(system_json)
    system = _check_name(system_id or system_json.stem, "system name")
    for key, value in (("division", division), ("submitter", submitter)):
        have = str(data.get(key, "")).strip()
        if have and have != value:
            raise UsageError(
                f"{system_json} says {key} {have!r}, but the tree is for {value!r}",
                f"Change {key} in the system JSON or pass --{key} {have}.",
            )
        data[key] = value
    if not str(data.get("system_type", "")).strip() and plan.get("category"):
        data["system_type"] = str(plan["category"])  # the category the campaign ran for
    missing = sysdesc.require_complete(data, str(system_json), division)
    records = list(runs.values())
    if not records:
        raise UsageError(f"campaign {campaign!r} has no runs", "Run 'perfpilot submission run'.")
    check_same_system(data, records, str(system_json))

    final = out / division / submitter
    if final.exists() or final.is_symlink():
        raise UsageError(
            f"{final} already exists: perfpilot never overwrites a submission tree",
            "Choose another --out, or move the old tree away first.",
        )
    result = GenerateResult(root=final, system=system, scenarios=[], missing_system_fields=missing)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".perfpilot-generate-{secrets.token_hex(4)}"
    try:
        root = tmp / division / submitter
        _build(root, layout, plan, runs, campaign, system, data, result)
        (out / division).mkdir(exist_ok=True)
        (tmp / division / submitter).rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _build(
    root: Path,
    layout: str,
    plan: dict[str, Any],
    runs: dict[str, RunRecord],
    campaign: str,
    system: str,
    data: dict[str, Any],
    result: GenerateResult,
) -> None:
    from perfpilot.artifacts import atomic_write_text

    division = str(plan["division"])
    model = str(plan["folder_model"])
    (root / "systems").mkdir(parents=True)
    atomic_write_text(root / "systems" / f"{system}.json", json.dumps(data, indent=4) + "\n")
    code = root / ("src" if layout == "v6" else "code") / model
    code.mkdir(parents=True)
    atomic_write_text(code / "README.md", _code_readme(plan))
    if division == "closed":
        (root / "documentation").mkdir()
        atomic_write_text(root / "documentation" / "calibration.md", _calibration(plan))
    if not plan.get("reference"):
        atomic_write_text(
            root / "model_mapping.json",
            json.dumps({model: plan["mlperf_model"]}, indent=4) + "\n",
        )
    items: dict[str, list[str]] = {}
    for item in plan["items"]:
        items.setdefault(item["scenario"], []).append(item["kind"])
    for scenario, kinds in items.items():
        acc, perf = runs.get(f"{scenario}/accuracy"), runs.get(f"{scenario}/performance")
        if acc is None or perf is None or not perf.ok:
            what = "performance" if acc is not None else "accuracy"
            if division == "closed":
                raise UsageError(
                    f"campaign {campaign!r} has no passing {scenario} {what} run",
                    "Resume it with 'perfpilot submission run' (it skips what passed).",
                )
            result.notes.append(f"{scenario} left out: no passing {what} run")
            continue
        scen_dir = root / "results" / system / model / scenario
        _copy(ACCURACY_FILES, Path(acc.run_dir), scen_dir / "accuracy")
        _copy(PERFORMANCE_FILES, Path(perf.run_dir), scen_dir / "performance" / "run_1")
        if layout == "v6":
            meas_dir = comp_dir = scen_dir
            meas_name = "measurements.json"
        else:
            tail = (system, model, scenario)
            meas_dir = root.joinpath("measurements", *tail)
            comp_dir = root.joinpath("compliance", *tail)
            meas_name = f"{system}.json"
        meas_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            meas_dir / meas_name, json.dumps(_measurements(plan, perf), indent=4) + "\n"
        )
        shutil.copy2(Path(perf.run_dir) / "user.conf", meas_dir / "user.conf")
        atomic_write_text(meas_dir / "README.md", _readme(plan, scenario, perf, campaign))
        for test in (k for k in kinds if k.startswith("TEST")):
            rec = runs.get(f"{scenario}/{test}")
            # TEST06 verifies the answers only: it has no verify_performance.txt
            verified = "verify_accuracy.txt" if test == "TEST06" else "verify_performance.txt"
            if rec is None or not (Path(rec.run_dir) / verified).exists():
                if division == "closed":
                    raise UsageError(
                        f"campaign {campaign!r} has no verified {scenario} {test} run",
                        "Resume it with 'perfpilot submission run'.",
                    )
                result.notes.append(f"{scenario} {test} left out: not run")
                continue
            failed = compliance.failed_verifications(Path(rec.run_dir))
            rerun = (
                f"'perfpilot submission run' with the campaign's options and "
                f"--only {scenario}/{test}"
            )
            if failed and division == "closed":
                raise UsageError(
                    f"campaign {campaign!r}: {scenario} {test} did not pass "
                    f"({', '.join(failed)} of run {rec.run_id})",
                    f"Re-run it: {rerun}.",
                )
            compliance.place(test, Path(rec.run_dir), comp_dir)
            if failed:  # the official checker skips compliance in the open division
                result.notes.append(
                    f"{scenario} {test} did not pass ({', '.join(failed)}): placed as it is, "
                    f"but nothing else will say so (the checker skips compliance in the open "
                    f"division); re-run it: {rerun}"
                )
        result.scenarios.append(scenario)
    if not result.scenarios:
        raise UsageError(
            f"campaign {campaign!r} has no scenario with passing accuracy and performance runs",
            "Resume it with 'perfpilot submission run'.",
        )
