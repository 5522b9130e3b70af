"""BERT on perfpilot: the stand-in encoder, named int64 inputs through the harness, model
checks, catalog entries, and a short end-to-end run on onnxruntime."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import ModelFileError, UsageError
from perfpilot.tasks import get_model, get_task
from perfpilot.tasks.squad.dataset import make_synthetic_squad
from perfpilot.tasks.squad.standin import (
    INPUTS,
    OUTPUTS,
    TINY,
    bert_onnx_bytes,
    ensure_bert_standin_tiny,
)
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tiny() -> Path:
    return ensure_bert_standin_tiny()


@pytest.fixture(scope="module")
def squad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_squad(tmp_path_factory.mktemp("squad"), articles=1)


def test_standin_has_the_official_signature_and_is_deterministic(tiny: Path) -> None:
    import onnx

    model = onnx.load(str(tiny))
    inputs = [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input]
    assert inputs == [(name, onnx.TensorProto.INT64) for name in INPUTS]
    assert [o.name for o in model.graph.output] == list(OUTPUTS)
    matmuls = sum(node.op_type == "MatMul" for node in model.graph.node)
    assert matmuls == TINY.layers * 8 + 1  # q, k, v, qk, ctx, out, ffn in/out; the QA head
    manifest = json.loads((tiny.parent / "manifest.json").read_text())
    assert manifest["recipe"].startswith("bert-standin/l2-h128")
    assert bert_onnx_bytes(TINY) == tiny.read_bytes()
    assert bert_onnx_bytes(TINY, seed=1) != tiny.read_bytes()


def test_named_inputs_feed_onnxruntime_and_stack_the_logits(tiny: Path) -> None:
    from perfpilot.backends import BackendConfig, create_backend
    from perfpilot.tasks.squad.adapter import NamedInputs, squad_logits

    inner = create_backend("onnxruntime", BackendConfig(threads=1, output_shape=(384, 2)))
    backend = NamedInputs(inner, INPUTS)
    backend.load(tiny)
    rng = np.random.default_rng(0)
    batch = np.zeros((3, 3, 384), np.int64)
    batch[:, 0] = rng.integers(0, 30522, (3, 384))
    batch[:, 1, :200] = 1
    out = squad_logits(backend.predict(batch))
    assert out.shape == (3, 384, 2) and out.dtype == np.float32 and out.flags.c_contiguous
    start, end = inner.predict_named({n: batch[:, i].copy() for i, n in enumerate(INPUTS)})
    assert np.array_equal(out[..., 0], start) and np.array_equal(out[..., 1], end)
    one = backend.predict(batch[1:2])  # a sample's answer does not depend on its batch
    assert np.allclose(one[0], out[1], atol=1e-4)
    backend.close()


def test_model_checks_know_the_squad_signature(tiny: Path, tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    from perfpilot.tasks.common.onnx_build import model_bytes
    from perfpilot.tasks.common.validate import check_onnx_model

    check_onnx_model(tiny, get_task("squad"))  # passes
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "one-input",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 384])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 384])],
    )
    other = tmp_path / "one.onnx"
    other.write_bytes(model_bytes(graph, "test", "1", opset=13))
    with pytest.raises(ModelFileError, match="task 'squad' feeds input_ids, input_mask"):
        check_onnx_model(other, get_task("squad"))
    with pytest.raises(ModelFileError, match="has 3 inputs"):
        check_onnx_model(tiny, get_task("imagenet"))


def test_catalog_entries_carry_the_official_facts() -> None:
    task = get_task("squad")
    assert task.metric == "F1" and task.server_latency_ms == 130
    assert task.accuracy_target == pytest.approx(90.874 * 0.99)
    assert get_model("bert-99.9").accuracy_target == pytest.approx(90.874 * 0.999)
    assert get_model("bert-99").md5 == "819b25b19cd8e59080c10892689750ca"
    int8 = get_model("bert-99-int8")
    assert int8.md5 == "45f88ffb2915362242703c85c38ec2d4"
    assert int8.input_names == ("input_ids", "attention_mask", "token_type_ids")
    assert get_model("bert-standin").standin and get_model("bert-standin-tiny").standin


def test_a_backend_without_named_inputs_is_refused_before_any_test(squad_dir: Path) -> None:
    from perfpilot.config.run import RunConfig
    from perfpilot.engine.prepare import prepare

    cfg = RunConfig(model="bert-standin-tiny", backend="openvino", dataset_path=squad_dir)
    try:
        with pytest.raises(UsageError, match="cannot feed the named inputs of 'bert-standin-tiny'"):
            prepare(cfg)
    except UsageError as err:  # openvino not installed here: its own clear error
        pytest.skip(err.one_line())


def test_squad_task_without_dataset_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("run", "--model", "bert-standin-tiny", "--dataset-path", str(tmp_path))
    assert result.returncode == 2
    assert "SQuAD file not found" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_bert_standin_runs_end_to_end_on_onnxruntime(squad_dir: Path, tmp_path: Path) -> None:
    result = run_cli(
        "run",
        "--model",
        "bert-standin-tiny",
        "--dataset-path",
        str(squad_dir),
        "--backend",
        "onnxruntime",
        "--scenario",
        "Offline",
        "--mode",
        "both",
        "--json",
        cwd=tmp_path,
    )
    # Exit 1 would only mean INVALID: test-mode runs are timed on a busy machine, and a
    # timing is never asserted here; failures show in the records' status.
    assert result.returncode in (0, 1), result.stderr
    runs = sorted((tmp_path / "perfpilot-workspace" / "runs").iterdir())
    records = [json.loads((run / "run.json").read_text()) for run in runs]
    by_mode = {r["config"]["mode"]: r for r in records}
    assert by_mode["performance"]["status"] == "ok" and by_mode["performance"]["standin"]
    perf = by_mode["performance"]["result"]
    assert perf["metric_unit"] == "samples/s" and perf["metric"] > 0 and perf["valid"] is not None
    accuracy = by_mode["accuracy"]["accuracy"]
    assert accuracy["metric"] == "F1" and accuracy["target"] is None  # stand-in: not judged
    questions = len(json.loads((squad_dir / "dev-v1.1.json").read_text())["data"][0]["paragraphs"])
    assert accuracy["total"] >= questions
    run_dir = Path(by_mode["accuracy"]["run_dir"])
    line = (run_dir / "accuracy.txt").read_text()
    checker = r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}"
    match = re.match(checker, line)
    assert match is not None and float(match.group(1)) == pytest.approx(accuracy["value"], abs=1e-3)
    predictions = json.loads((run_dir / "predictions.json").read_text())
    assert len(predictions) == accuracy["total"]
    log = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    assert len(bytes.fromhex(log[0]["data"])) == 384 * 2 * 4  # float32 [384, 2] per sample
