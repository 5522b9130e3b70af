"""The wdbc task: added as one folder plus one registry line, and run like any other."""

import json
from pathlib import Path

import numpy as np
import pytest

from perfpilot.tasks import get_model, get_task, models
from perfpilot.tasks.common.validate import check_onnx_model
from perfpilot.tasks.registry import TASK_MODULES
from tests.conftest import run_cli


def test_registered_by_one_line_and_listed() -> None:
    assert TASK_MODULES["wdbc"] == "perfpilot.tasks.wdbc.spec"
    assert models()["wdbc-logreg"].task == "wdbc"
    out = run_cli("models", "list")
    assert out.returncode == 0 and "wdbc-logreg" in out.stdout


def test_holdout_is_standardised_and_the_model_fits_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    dataset = get_task("wdbc").load_dataset()
    assert dataset.total_count == 114 and dataset.samples(np.arange(3)).shape == (3, 30)
    assert set(np.unique(dataset.labels())) == {0, 1}
    path = get_model("wdbc-logreg").ensure_file()
    check_onnx_model(path, get_task("wdbc"))
    assert get_model("wdbc-logreg").ensure_file() == path  # cached: built once


@pytest.mark.slow
def test_offline_accuracy_passes_through_the_engine(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    out = run_cli(
        "--workspace", str(ws), "run", "--model", "wdbc-logreg", "--mode", "accuracy", "--json"
    )
    assert out.returncode == 0, out.stderr
    (record,) = json.loads(out.stdout)
    assert record["accuracy"]["passed"] and record["accuracy"]["value"] > 90
