"""Regenerate perfpilot's per-round model tables from the official submission checkers.

Reads the official checker of each round from a clone of mlcommons/inference (a bare git
directory is fine) with Python's ``ast`` -- the official code is never imported or run --
and rewrites the ``models`` of every round in ``src/perfpilot/submission/rules.json``
and the snapshot ``tests/data/official_models.json`` (the official model list of each
round, which ``tests/test_official_rules.py`` compares with rules.json where CI has no
clone).

    python bench/official_rules.py [--repo /path/to/inference] [--check]

``--check`` writes nothing and exits 1 when rules.json or the snapshot differ from what
the official sources say. Which source holds which round is in ``SOURCES``.
"""

from __future__ import annotations

import argparse
import ast
import json
import operator
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "src" / "perfpilot" / "submission" / "rules.json"
SNAPSHOT = ROOT / "tests" / "data" / "official_models.json"
DEFAULT_REPO = Path("/work/.mirror/mlcommons+inference/repo")
OLD = "tools/submission/submission_checker.py"
NEW = "tools/submission/submission_checker/constants.py"
NEW_CONFIG = "tools/submission/submission_checker/configuration/configuration.py"
# round -> (git ref, file): each round's own (last) release of the single-file checker up to
# v5.1; the modular checker of master (the newest) for v6.0 and v6.1.
SOURCES = {
    "v4.1": ("v4.1", OLD),
    "v5.0": ("v5.0", OLD),
    "v5.1": ("v5.1.1", OLD),  # the fix release (it adds llama3.1-8b-edge)
    "v6.0": ("master", NEW),
    "v6.1": ("master", NEW),
}
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline", "Interactive")
CATEGORIES = {"datacenter": "datacenter", "edge": "edge", "datacenter-edge": "datacenter,edge"}


def git_show(repo: Path, ref: str, path: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "show", f"{ref}:{path}"], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"cannot read {ref}:{path} in {repo}: {out.stderr.strip()}")
    return out.stdout


def value(node: ast.AST) -> Any:
    """A literal, allowing the arithmetic the official tables use (``76.46 * 0.99``)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple | ast.List):
        return [value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {value(k): value(v) for k, v in zip(node.keys, node.values, strict=True) if k}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -value(node.operand)
    if isinstance(node, ast.BinOp):
        left, right = value(node.left), value(node.right)
        ops = {ast.Mult: operator.mul, ast.Add: operator.add, ast.Sub: operator.sub}
        return ops[type(node.op)](left, right)
    raise ValueError(f"not a literal: {ast.dump(node)[:80]}")


def assignments(tree: ast.Module) -> dict[str, ast.AST]:
    """Every ``NAME = <expr>`` of the file, functions included (the older checker keeps
    its unit table inside a function)."""
    found: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                found.setdefault(target.id, node.value)
    return found


def function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def str_lists(node: ast.AST) -> list[list[str]]:
    """The lists of strings written in ``node``."""
    out = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.List) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in sub.elts
        ):
            out.append([str(value(e)) for e in sub.elts])
    return out


def equal_issue_models(tree: ast.Module, round_name: str) -> list[str]:
    """``requires_equal_issue``: its model list, if the version guard (where there is one)
    lets this round in."""
    func = function(tree, "requires_equal_issue")
    if func is None:
        return []
    lists = str_lists(func)
    versions = [lst for lst in lists if lst and all(x.startswith("v") for x in lst)]
    if versions and round_name not in versions[0]:
        return []
    divisions = {"closed", "open", "network"}
    models = [lst for lst in lists if lst not in versions and not set(lst) <= divisions]
    return models[0] if models else []


def llm_models(tree: ast.Module) -> list[str]:
    """Models whose runs the official checker holds to the LLM (token latency) rules."""
    func = function(tree, "get_llm_models")
    if func is not None:
        return str_lists(func)[0]
    for node in ast.walk(tree):  # older: ``if model in [...]: extra_check_llm(...)``
        if isinstance(node, ast.If) and any(
            isinstance(c, ast.Call) and getattr(c.func, "id", "") == "extra_check_llm"
            for c in ast.walk(node)
        ):
            lists = str_lists(node.test)
            if lists:
                return lists[0]
    return []


def compliance_tests(tree: ast.Module, round_name: str, model: str) -> list[str]:
    """The older checker's TEST list: ``test_list = [...]`` then ``if model in [...]``
    (optionally ``and config.version in [...]``) removes or appends tests."""
    func = function(tree, "check_compliance_dir")
    assert func is not None
    tests: list[str] = []
    for stmt in func.body:
        if isinstance(stmt, ast.Assign) and getattr(stmt.targets[0], "id", "") == "test_list":
            tests = list(value(stmt.value))
        if not isinstance(stmt, ast.If):
            continue
        lists = str_lists(stmt.test)
        if not lists or model not in lists[0]:
            continue
        if len(lists) > 1 and round_name not in lists[1]:
            continue
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
                arg = value(sub.args[0]) if sub.args else None
                if sub.func.attr == "remove" and arg in tests:
                    tests.remove(arg)
                elif sub.func.attr == "append" and arg not in tests:
                    tests.append(arg)
    return tests


# The summary CSV's units of a scenario where the checker has no model-specific ones.
UNITS = {
    "SingleStream": "Latency (ms)",
    "MultiStream": "Latency (ms)",
    "Offline": "Samples/s",
    "Server": "Queries/s",
    "Interactive": "Queries/s",
}


def model_units(
    special: dict[str, str], required: dict[str, list[str]], optional: dict[str, list[str]]
) -> dict[str, str]:
    """The units of every scenario the model may be submitted in (and the special ones)."""
    scens = {s for lst in [*required.values(), *optional.values()] for s in lst}
    scens |= {s for s in special if s in SCENARIOS}
    return {s: special.get(s, UNITS[s]) for s in SCENARIOS if s in scens}


def pairs(flat: Any) -> list[list[Any]]:
    """``("ROUGE1", 38.4, "ROUGE2", 15.7)`` -> [["ROUGE1", 38.4], ["ROUGE2", 15.7]]."""
    return [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]


def official_round(repo: Path, round_name: str) -> dict[str, Any]:
    """What the official checker of ``round_name`` says about each of its models."""
    ref, path = SOURCES[round_name]
    tree = ast.parse(git_show(repo, ref, path))
    names = assignments(tree)
    config = value(names["MODEL_CONFIG"])[round_name]
    overwrite = value(names["RESULT_FIELD_BENCHMARK_OVERWRITE"]).get(round_name, {})
    llm_limits = value(names["LLM_LATENCY_LIMITS"])
    unit_node = names.get("SPECIAL_UNIT_DICT") or names.get("special_unit_dict")
    units = value(unit_node) if unit_node else {}
    min_spq = value(names["OFFLINE_MIN_SPQ_SINCE_V4"])
    extra_files = (
        value(names["REQUIRED_ACC_BENCHMARK"]) if "REQUIRED_ACC_BENCHMARK" in names else {}
    )
    logic = tree if path == OLD else ast.parse(git_show(repo, ref, NEW_CONFIG))
    equal = equal_issue_models(logic, round_name)
    llms = llm_models(logic if path == NEW else tree)
    models: dict[str, Any] = {}
    for model in config["models"]:
        target = config["accuracy-target"][model]
        by_scenario = isinstance(target, dict)  # qwen3-vl: a target per scenario
        acc_count = config.get("accuracy-sample-count", {}).get(model)
        if path == NEW:
            tests = [
                t
                for t in ("01", "04", "06", "07", "08", "09")
                if model in config.get(f"models_TEST{t}", [])
            ]
            compliance = [f"TEST{t}" for t in tests]
        else:
            compliance = compliance_tests(tree, round_name, model)
        required = {
            cat: config[f"required-scenarios-{key}"][model]
            for key, cat in CATEGORIES.items()
            if model in config[f"required-scenarios-{key}"]
        }
        optional = {
            cat: config[f"optional-scenarios-{key}"][model]
            for key, cat in CATEGORIES.items()
            if model in config.get(f"optional-scenarios-{key}", {})
        }
        latency = config.get("latency-constraint", {}).get(model, {})
        entry: dict[str, Any] = {
            "accuracy": pairs(target["Offline"] if by_scenario else target),
            "accuracy_upper": pairs(config.get("accuracy-upper-limit", {}).get(model, [])),
            "performance_sample_count": config["performance-sample-count"][model],
            "dataset_size": config.get("dataset-size", {}).get(model),
            "accuracy_sample_count": acc_count if isinstance(acc_count, int) else None,
            "latency_constraint_ns": {s: int(v) for s, v in latency.items()},
            "min_queries": config["min-queries"].get(model, {}),
            "offline_min_samples_per_query": min_spq.get(model, 24576),
            "compliance": compliance,
            "equal_issue": model in equal,
            "required_scenarios": required,
            "optional_scenarios": optional,
            "token_latency_ns": {
                s: {k: int(v) for k, v in lim.items()}
                for s, lim in llm_limits.get(model, {}).items()
            },
            "token_latencies": model in llms,
            "metric_keys": overwrite.get(model, {}),
            "units": model_units(units.get(model, {}), required, optional),
        }
        if by_scenario:
            entry["accuracy_by_scenario"] = {s: pairs(t) for s, t in target.items()}
        if isinstance(acc_count, dict):
            entry["accuracy_sample_count_by_scenario"] = acc_count
        extra = extra_files.get(model, {}).get(round_name)
        if extra:  # files the accuracy folder must hold (sdxl's sample images)
            entry["accuracy_files"] = extra
        deltas = config.get("accuracy-delta-perc", {}).get(model)
        if deltas:
            entry["accuracy_delta_perc"] = deltas
        models[model] = entry
    return {
        "source": f"{ref}:{path}",
        "models": models,
        "aliases": config.get("model_mapping", {}),
        "accuracy_patterns": value(names["ACC_PATTERN"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO)
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    args = parser.parse_args()
    rules = json.loads(RULES.read_text())
    snapshot: dict[str, Any] = {"about": "official model lists per round (bench/official_rules.py)"}
    patterns = dict(rules["common"]["accuracy_patterns"])
    for round_name in SOURCES:
        official = official_round(args.repo, round_name)
        rnd = rules["rounds"][round_name]
        for model, entry in official["models"].items():
            # v4.1's checker names no dataset sizes: keep perfpilot's (the datasets')
            old = rnd["models"].get(model, {})
            if entry["dataset_size"] is None:
                entry["dataset_size"] = old.get("dataset_size")
        rnd["models"] = official["models"]
        rnd["aliases"] = {**rnd["aliases"], **official["aliases"]}
        # one pattern per metric: the newest round's (they only grew more lenient)
        patterns.update(official["accuracy_patterns"])
        snapshot[round_name] = {"source": official["source"], "models": sorted(official["models"])}
    rules["common"]["accuracy_patterns"] = patterns
    new_rules = json.dumps(rules, indent=1) + "\n"
    new_snapshot = json.dumps(snapshot, indent=1) + "\n"
    if args.check:
        same = (
            RULES.read_text() == new_rules
            and SNAPSHOT.exists()
            and (SNAPSHOT.read_text() == new_snapshot)
        )
        print(
            "up to date" if same else "rules.json or the snapshot differ from the official sources"
        )
        return 0 if same else 1
    RULES.write_text(new_rules)
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(new_snapshot)
    print(f"wrote {RULES.relative_to(ROOT)} and {SNAPSHOT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
