"""perfpilot's per-round model tables against the official checkers' (a committed snapshot
of their model lists, refreshed by bench/official_rules.py), and the generator's reading
of the official source."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

from perfpilot.submission import rounds

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = json.loads((ROOT / "tests" / "data" / "official_models.json").read_text())


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "official_rules", ROOT / "bench" / "official_rules.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("round_name", rounds.ROUNDS)
def test_every_official_model_is_known(round_name: str) -> None:
    official = SNAPSHOT[round_name]["models"]
    known = rounds.get_round(round_name).models
    unknown = sorted(set(official) - set(known))
    assert not unknown, f"{round_name}: official models perfpilot does not know: {unknown}"
    assert sorted(known) == sorted(official)


def test_tables_hold_the_official_figures() -> None:
    v51 = rounds.get_round("v5.1")
    whisper = v51.model("whisper")
    assert whisper.accuracy == [("ACCURACY", pytest.approx((100.0 - 2.0671) * 0.99))]
    assert whisper.metric_keys == {"Offline": "result_tokens_per_second"}
    sdxl = v51.model("stable-diffusion-xl")
    assert [m for m, _ in sdxl.accuracy] == ["CLIP_SCORE", "FID_SCORE"]
    assert dict(sdxl.accuracy_upper)["FID_SCORE"] == pytest.approx(23.95007626)
    assert v51.model("llama3_1-8b-edge").name == "llama3.1-8b-edge"
    assert v51.required_compliance("llama2-70b-99") == ["TEST06"]
    v61 = rounds.get_round("v6.1")
    assert v61.model("llama2-70b-99.9").token_latency_ns["Interactive"]["tpot"] == 40_000_000
    assert v61.required_scenarios("yolo-99", "edge") == ["SingleStream", "MultiStream", "Offline"]
    assert rounds.get_round("v4.1").model("mixtral-8x7b").compliance == ["TEST06"]


def test_generator_reads_official_literals() -> None:
    gen = _generator()
    src = 'X = {"a": ("acc", 76.46 * 0.99, "F1", 2000 * 1000000), "b": [-1, 2 - 1]}'
    node = ast.parse(src).body[0]
    assert isinstance(node, ast.Assign)
    assert gen.value(node.value) == {"a": ["acc", 76.46 * 0.99, "F1", 2_000_000_000], "b": [-1, 1]}
    assert gen.pairs(["ROUGE1", 1.0, "GEN_LEN", 2.0]) == [["ROUGE1", 1.0], ["GEN_LEN", 2.0]]
    with pytest.raises(ValueError):
        gen.value(ast.parse("f(1)").body[0].value)  # type: ignore[attr-defined]


def test_generator_reads_compliance_logic() -> None:
    """The older checkers' TEST list is code: the generator follows its removes/appends."""
    gen = _generator()
    tree = ast.parse(
        "def check_compliance_dir(model, config):\n"
        '    test_list = ["TEST01", "TEST04"]\n'
        '    if model in ["bert-99", "llm"]:\n'
        '        test_list.remove("TEST04")\n'
        '    if model in ["llm"] and config.version in ["v5.0"]:\n'
        '        test_list.remove("TEST01")\n'
        '    if model in ["llm"]:\n'
        '        test_list.append("TEST06")\n'
    )
    assert gen.compliance_tests(tree, "v5.1", "resnet") == ["TEST01", "TEST04"]
    assert gen.compliance_tests(tree, "v5.1", "llm") == ["TEST01", "TEST06"]
    assert gen.compliance_tests(tree, "v5.0", "llm") == ["TEST06"]


def test_tables_are_up_to_date_with_the_official_sources() -> None:
    """Where a clone of mlcommons/inference is at hand (OFFICIAL_INFERENCE_REPO, or the
    generator's default path), the committed tables are what the generator makes of it."""
    import os
    import subprocess
    import sys

    gen = _generator()
    repo = Path(os.environ.get("OFFICIAL_INFERENCE_REPO", str(gen.DEFAULT_REPO)))
    if not (repo / "HEAD").exists() and not (repo / ".git").exists():
        pytest.skip(f"no clone of mlcommons/inference at {repo}")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "official_rules.py"), "--repo", str(repo), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_per_scenario_accuracy_targets() -> None:
    qwen = rounds.get_round("v6.1").model("qwen3-vl-235b-a22b")
    assert qwen.accuracy_for("Interactive") == [("F1_HIERARCHICAL", pytest.approx(0.7878 * 0.99))]
    assert qwen.accuracy_for("Offline") == [("F1_HIERARCHICAL", pytest.approx(0.7903 * 0.99))]
    assert rounds.get_round("v6.1").model("resnet").accuracy_for("Server")[0][0] == "acc"
