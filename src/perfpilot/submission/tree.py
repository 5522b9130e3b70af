"""Read official MLPerf Inference submission trees, both layouts, without changing them.

``read_tree(root)`` walks ``<root>/<division>/<submitter>/`` and returns one
:class:`ScenarioEntry` per (system, model, scenario) found under ``results/``, with the
parsed performance result (``engine.logparse``), the accuracy values from
``accuracy.txt``, the system JSON and the paths of everything that belongs to the result.

Layouts: up to v5.1 (``code/``, ``measurements/<system>/<model>/<scenario>/``,
``compliance/<system>/<model>/<scenario>/TEST0x``) and from v6.0 (``src/``, measurements
and ``TEST0x`` folders inside the scenario folder). Reading is tolerant: what cannot be
read is listed in ``entry.problems`` rather than raised, and symlinks are never followed.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfpilot.engine.logparse import parse_result
from perfpilot.errors import PerfpilotError, UsageError
from perfpilot.loadgen_result import LoadgenResult
from perfpilot.safepaths import plain_file, plain_folder
from perfpilot.submission.endpoints import EndpointsResult, is_endpoints, read_endpoints
from perfpilot.userfiles import parse_json

DIVISIONS = ("closed", "open", "network")
SCENARIO_NAMES = {
    "singlestream": "SingleStream",
    "multistream": "MultiStream",
    "server": "Server",
    "offline": "Offline",
    "interactive": "Interactive",
}
# Folder model names that stand for an MLPerf model in every round.
MODEL_ALIASES = {
    "resnet50": "resnet",
    "mobilenet": "resnet",
    "ssd-resnet34": "retinanet",
    # the LLM folder names the checker maps (v5.0 on)
    "llama3_1-405b": "llama3.1-405b",
    "llama3_1-8b": "llama3.1-8b",
    "llama3_1-8b-edge": "llama3.1-8b-edge",
}


@functools.cache
def accuracy_patterns() -> dict[str, re.Pattern[str]]:
    """The accuracy lines of the official scripts, one regex per metric (group 1 = the
    value), as the official checkers match them (``rules.json``, generated from them)."""
    from perfpilot.submission import rounds

    return {k: re.compile(v) for k, v in rounds.common()["accuracy_patterns"].items()}


@functools.cache
def _any_accuracy_pattern() -> re.Pattern[str]:
    """One regex that matches a line when any metric pattern does: most lines of an
    accuracy.txt (per-sample output) match none, and are passed over with one test."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in accuracy_patterns().values()))


HASH_LINE = re.compile(r"^hash=(\S*)\s*$")


@dataclass
class AccuracyFile:
    """What ``accuracy.txt`` says: metric values (as printed) and the hash line."""

    path: Path
    values: dict[str, str] = field(default_factory=dict)  # metric -> value text ("75.730")
    hash: str | None = None  # the value of the ``hash=`` line (None: no such line)

    def value(self, metric: str) -> float | None:
        text = self.values.get(metric)
        try:
            return float(text.rstrip(".")) if text is not None else None
        except ValueError:
            return None


@dataclass
class ComplianceTest:
    """One ``TEST0x`` folder of a result."""

    name: str
    path: Path
    performance: LoadgenResult | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class ScenarioEntry:
    """One (system, model, scenario) result of a submission tree."""

    division: str
    submitter: str
    system: str
    model: str  # folder name (resnet50)
    mlperf_model: str  # MLPerf name (resnet), via the common aliases
    scenario_dir: str  # folder name as found (Offline, offline)
    scenario: str  # canonical (Offline)
    layout: str  # "v4" or "v6"
    path: Path  # results/<system>/<model>/<scenario>
    system_path: Path
    system_json: dict[str, Any] | None
    performance_dir: Path
    accuracy_dir: Path
    measurements_dir: Path
    compliance_dir: Path
    performance: LoadgenResult | None = None
    accuracy_log: LoadgenResult | None = None  # the accuracy run's LoadGen log
    accuracy: AccuracyFile | None = None
    measurements: dict[str, Any] | None = None
    measurements_path: Path | None = None
    compliance: dict[str, ComplianceTest] = field(default_factory=dict)
    standin: bool = False  # a perfpilot stand-in model produced this result
    endpoints: EndpointsResult | None = None  # an MLPerf Endpoints result (v6.1), not LoadGen
    problems: list[str] = field(default_factory=list)

    @property
    def location(self) -> str:
        """``<division>/<submitter>/results/<system>/<model>/<scenario>`` (CSV Location),
        with the scenario folder's name as written (``offline``), as the checker does."""
        return "/".join(
            (self.division, self.submitter, "results", self.system, self.model, self.scenario_dir)
        )


@dataclass
class SubmitterDir:
    """One ``<division>/<submitter>`` folder."""

    division: str
    name: str
    path: Path
    layout: str
    systems: dict[str, Path]  # system name -> systems/<name>.json
    model_mapping: dict[str, str]  # open division model_mapping.json


@dataclass
class SubmissionTree:
    """A whole submission tree as read from disk."""

    root: Path
    submitters: list[SubmitterDir]
    entries: list[ScenarioEntry]


def is_dir(path: Path) -> bool:
    """A real folder (symlinks to folders are not followed)."""
    return plain_folder(path)


def is_file(path: Path) -> bool:
    """A real file (symlinks are not followed)."""
    return plain_file(path)


def subdirs(path: Path) -> list[Path]:
    """Real sub-folders, sorted by name."""
    if not is_dir(path):
        return []
    # scandir: the entry's type comes with the listing, no stat per entry
    with os.scandir(path) as listing:
        names = sorted(e.name for e in listing if e.is_dir(follow_symlinks=False))
    return [path / name for name in names]


def files(path: Path) -> list[Path]:
    """Plain files and symlinks directly in ``path``, sorted by name."""
    if not is_dir(path):
        return []
    with os.scandir(path) as listing:
        names = sorted(e.name for e in listing if e.is_symlink() or e.is_file())
    return [path / name for name in names]


def read_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) or (None, the problem) for a JSON object file; never follows links."""
    if not is_file(path):
        return None, f"{path} is missing"
    try:
        data = parse_json(path.read_text(errors="replace"))
    except (OSError, ValueError) as err:
        return None, f"{path} is not valid JSON ({err})"
    if not isinstance(data, dict):
        return None, f"{path} does not hold a JSON object"
    return data, None


def read_accuracy_txt(path: Path) -> AccuracyFile:
    """Parse ``accuracy.txt``: the first value per metric pattern, and the hash line."""
    out = AccuracyFile(path=path)
    for line in path.read_text(errors="replace").splitlines():
        match = HASH_LINE.match(line)
        if match:
            out.hash = match.group(1)
            continue
        if not _any_accuracy_pattern().match(line):
            continue
        for metric, pattern in accuracy_patterns().items():
            found = pattern.match(line)
            if found:  # the official checkers keep the last line that matches
                out.values[metric] = found.group(1)
    return out


def _parse_logs(run_dir: Path, problems: list[str]) -> LoadgenResult | None:
    detail = run_dir / "mlperf_log_detail.txt"
    if not is_file(detail):
        problems.append(f"{detail} is missing")
        return None
    try:
        return parse_result(run_dir)
    except (PerfpilotError, OSError, ValueError) as err:
        problems.append(f"{detail} cannot be read ({err})")
        return None


def detect_layout(submitter_dir: Path) -> str:
    """``v6`` when results hold their own measurements (v6.0+), else ``v4`` (v4.1-v5.1)."""
    if is_dir(submitter_dir / "measurements") or is_dir(submitter_dir / "compliance"):
        return "v4"
    if is_dir(submitter_dir / "src"):
        return "v6"
    for system in subdirs(submitter_dir / "results"):
        for model in subdirs(system):
            for scen in subdirs(model):
                if is_file(scen / "measurements.json") or is_file(scen / "user.conf"):
                    return "v6"
    return "v4"


def _is_standin(entry: ScenarioEntry) -> bool:
    """Stand-in results: a perfpilot run record (``run.json``) or measurements marked so."""
    weights = str((entry.measurements or {}).get("starting_weights_filename", "")).lower()
    if entry.measurements and (
        entry.measurements.get("perfpilot_standin") is True
        or "standin" in weights
        or "stand-in" in weights
    ):
        return True
    for folder in (entry.performance_dir, entry.accuracy_dir, entry.path):
        record, _ = read_json(folder / "run.json")
        if record and record.get("standin") is True:
            return True
    return False


def _measurements(entry: ScenarioEntry) -> None:
    folder = entry.measurements_dir
    if not is_dir(folder):
        entry.problems.append(f"{folder} is missing")
        return
    if entry.layout == "v6":
        candidates = [p for p in files(folder) if p.name.lower() == "measurements.json"]
    else:
        named = [
            p for p in files(folder) if p.suffix == ".json" and p.name.startswith(entry.system)
        ]
        scen_first = [p for p in named if p.name.endswith(f"_{entry.scenario_dir}.json")]
        candidates = scen_first or named
    if not candidates:
        entry.problems.append(f"{folder} has no measurements JSON")
        return
    entry.measurements_path = candidates[0]
    data, problem = read_json(candidates[0])
    entry.measurements = data
    if problem:
        entry.problems.append(problem)


def _compliance(entry: ScenarioEntry) -> None:
    for test_dir in subdirs(entry.compliance_dir):
        if not test_dir.name.startswith("TEST"):
            continue
        test = ComplianceTest(name=test_dir.name, path=test_dir)
        run = test_dir / "performance" / "run_1"
        if is_dir(run):
            test.performance = _parse_logs(run, test.problems)
        entry.compliance[test.name] = test


def _entry(sub: SubmitterDir, system: Path, model: Path, scen: Path) -> ScenarioEntry:
    system_path = sub.path / "systems" / f"{system.name}.json"
    system_json, _ = read_json(system_path)
    mlperf_model = sub.model_mapping.get(model.name, MODEL_ALIASES.get(model.name, model.name))
    if sub.layout == "v6":
        measurements_dir = compliance_dir = scen
    else:
        tail = (system.name, model.name, scen.name)
        measurements_dir = sub.path.joinpath("measurements", *tail)
        compliance_dir = sub.path.joinpath("compliance", *tail)
    entry = ScenarioEntry(
        division=sub.division,
        submitter=sub.name,
        system=system.name,
        model=model.name,
        mlperf_model=mlperf_model,
        scenario_dir=scen.name,
        scenario=SCENARIO_NAMES.get(scen.name.lower(), scen.name),
        layout=sub.layout,
        path=scen,
        system_path=system_path,
        system_json=system_json,
        performance_dir=scen / "performance" / "run_1",
        accuracy_dir=scen / "accuracy",
        measurements_dir=measurements_dir,
        compliance_dir=compliance_dir,
    )
    if is_endpoints(scen):
        entry.endpoints = read_endpoints(scen)
        entry.problems.extend(entry.endpoints.problems)
    elif is_dir(entry.performance_dir):
        entry.performance = _parse_logs(entry.performance_dir, entry.problems)
    else:
        entry.problems.append(f"{entry.performance_dir} is missing")
    if is_dir(entry.accuracy_dir):
        if is_file(entry.accuracy_dir / "mlperf_log_detail.txt"):
            entry.accuracy_log = _parse_logs(entry.accuracy_dir, entry.problems)
        acc_txt = entry.accuracy_dir / "accuracy.txt"
        if is_file(acc_txt):
            entry.accuracy = read_accuracy_txt(acc_txt)
    else:
        entry.problems.append(f"{entry.accuracy_dir} is missing")
    _measurements(entry)
    _compliance(entry)
    entry.standin = _is_standin(entry)
    return entry


def iter_submitters(root: Path) -> Iterator[SubmitterDir]:
    """The ``<division>/<submitter>`` folders under ``root``."""
    for division in subdirs(root):
        if division.name not in DIVISIONS:
            continue
        for sub in subdirs(division):
            systems = {
                p.stem: p
                for p in files(sub / "systems")
                if p.suffix == ".json" and not p.is_symlink()
            }
            mapping: dict[str, str] = {}
            if division.name == "open":
                data, _ = read_json(sub / "model_mapping.json")
                mapping = {str(k): str(v) for k, v in (data or {}).items()}
            yield SubmitterDir(
                division=division.name,
                name=sub.name,
                path=sub,
                layout=detect_layout(sub),
                systems=systems,
                model_mapping=mapping,
            )


def read_tree(root: Path | str) -> SubmissionTree:
    """Read a submission tree rooted at ``root`` (the folder holding ``closed/`` etc.)."""
    base = Path(root)
    if not base.is_dir():
        raise UsageError(f"{base} is not a folder", "Give the root of a submission tree.")
    if not any(is_dir(base / d) for d in DIVISIONS):
        hint = "Give the folder that holds closed/, open/ or network/"
        if base.name in DIVISIONS:
            hint += f" (here: {base.parent})"
        raise UsageError(f"{base} holds no closed/, open/ or network/ folder", hint + ".")
    submitters = list(iter_submitters(base))
    entries: list[ScenarioEntry] = []
    for sub in submitters:
        for system in subdirs(sub.path / "results"):
            for model in subdirs(system):
                for scen in subdirs(model):
                    entries.append(_entry(sub, system, model, scen))
    return SubmissionTree(root=base, submitters=submitters, entries=entries)
