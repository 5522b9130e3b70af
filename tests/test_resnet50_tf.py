"""The ResNet50 v1.5 stand-in on the tensorflow and tflite backends: rebuilt with TF ops
from the stand-in's ONNX weights, the same answers as onnxruntime, cached like the
digits-cnn SavedModel, and the whole pipeline (synthetic ImageNet -> LoadGen -> top-1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from perfpilot.backends import BackendConfig, create_backend
from perfpilot.errors import ModelFileError
from perfpilot.tasks.imagenet.standin import ensure_resnet50_standin
from tests.conftest import TF_LOADER, need_backend, run_cli

#: The stand-in's random weights make its softmax nearly one-hot (every synthetic image
#: here gets class 629 with a score of ~1.0), so the scores are also compared in log
#: space wherever onnxruntime's are above 1e-30 (about ten classes per image): a wrong
#: layer would move those by far more than the fp32 reordering does (measured: 1e-11
#: absolute on the scores, 6e-4 on the log-scores, whose magnitudes reach ~70).
SOFTMAX_ATOL = 1e-5
LOG_ATOL = 1e-2


def _assert_scores(got: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(got, expected, rtol=0, atol=SOFTMAX_ATOL)
    seen = expected > 1e-30
    assert seen.sum() >= 2 * len(expected)  # the log check compares several classes each
    np.testing.assert_allclose(np.log(got[seen]), np.log(expected[seen]), rtol=0, atol=LOG_ATOL)


@pytest.fixture(scope="module")
def batch(images: Path) -> np.ndarray:
    from perfpilot.tasks.imagenet.dataset import ImagenetDataset

    return ImagenetDataset(images, size=4).samples(np.arange(4))


def test_saved_model_matches_onnxruntime_and_is_cached(
    standin: Path, batch: np.ndarray, reference: list[np.ndarray]
) -> None:
    need_backend("tensorflow")
    from perfpilot.artifacts.files import tree_sha256
    from perfpilot.backends.tensorflow.builtin import ensure_saved_model
    from perfpilot.backends.tensorflow.runtime import import_tensorflow

    saved = ensure_saved_model(standin, loader=TF_LOADER)
    manifest = json.loads((saved.parent / "manifest.json").read_text())
    assert manifest["artifact"] == "resnet50-standin-tensorflow"
    assert manifest["sha256"] == tree_sha256(saved)
    serve = import_tensorflow().saved_model.load(str(saved)).signatures["serving_default"]
    # Batch 2, then the other 2 images as a second batch: any batch size is served.
    for rows in (slice(0, 2), slice(2, 4)):
        out = serve(input_tensor=batch[rows])
        _assert_scores(out["softmax_tensor"].numpy(), reference[1][rows])
        assert out["ArgMax"].numpy().tolist() == reference[0][rows].tolist()
    # Through the backend: it serves the output shaped like the task's, the scores.
    backend = create_backend(
        "tensorflow", BackendConfig(threads=1, output_shape=(1001,), loader=TF_LOADER)
    )
    backend.load(standin)
    try:
        got = backend.predict(batch[:2])
    finally:
        backend.close()
    _assert_scores(got, reference[1][:2])


def test_damaged_saved_model_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, standin: Path
) -> None:
    need_backend("tensorflow")
    from perfpilot.backends.tensorflow.builtin import ensure_saved_model

    # A private cache: the copy is built here (about ten seconds) and then damaged.
    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    first = ensure_saved_model(standin, loader=TF_LOADER)
    assert ensure_saved_model(standin, loader=TF_LOADER) == first
    variables = next((first / "variables").glob("variables.data-*"))
    variables.write_bytes(variables.read_bytes()[:100])  # truncated, manifest still there
    again = ensure_saved_model(standin, loader=TF_LOADER)
    assert again == first
    assert variables.stat().st_size > 100
    shutil.rmtree(tmp_path / "cache")


def test_tflite_matches_onnxruntime(
    standin: Path, batch: np.ndarray, reference: list[np.ndarray]
) -> None:
    need_backend("tflite")
    need_backend("tensorflow")
    from ai_edge_litert.interpreter import Interpreter

    from perfpilot.backends.tflite.convert import ensure_builtin_tflite

    lite = ensure_builtin_tflite(standin, TF_LOADER)
    manifest = json.loads((lite.parent / "manifest.json").read_text())
    assert (manifest["artifact"], manifest["precision"]) == ("resnet50-standin-tflite", "fp32")
    interp = Interpreter(model_path=str(lite), num_threads=1)
    (inp,) = interp.get_input_details()
    interp.resize_tensor_input(inp["index"], [2, 3, 224, 224])
    interp.allocate_tensors()
    # Output tensors are named StatefulPartitionedCall:<n>; the signature maps its keys.
    signature = interp.get_signature_runner("serving_default").get_output_details()
    argmax, softmax = signature["ArgMax"]["index"], signature["softmax_tensor"]["index"]
    interp.set_tensor(inp["index"], batch[:2])
    interp.invoke()
    _assert_scores(interp.get_tensor(softmax), reference[1][:2])
    assert interp.get_tensor(argmax).tolist() == reference[0][:2].tolist()
    # Through the backend: its first output is ArgMax, as the ONNX model orders them.
    backend = create_backend(
        "tflite", BackendConfig(threads=1, output_shape=(1001,), loader=TF_LOADER)
    )
    backend.load(standin)
    try:
        got = backend.predict(batch[2:])
    finally:
        backend.close()
    assert got.dtype == np.int64
    assert got.tolist() == reference[0][2:].tolist()


@pytest.mark.parametrize("name", ["tensorflow", "tflite"])
def test_a_changed_graph_is_refused(tmp_path: Path, standin: Path, name: str) -> None:
    need_backend(name)
    import onnx

    from perfpilot.backends.registry import backend_class

    model = onnx.load(str(standin))
    # Same names and weights, but one convolution strided differently: another network.
    conv = [n for n in model.graph.node if n.op_type == "Conv"][5]
    for attr in conv.attribute:
        if attr.name == "strides":
            attr.ints[:] = [2, 2]
    changed = tmp_path / "changed.onnx"
    onnx.save(model, str(changed))
    with pytest.raises(ModelFileError, match="runs only the built-in digits-cnn, resnet50"):
        backend_class(name).check_model(
            changed, (3, 224, 224), "float32", (1001,), loader=TF_LOADER
        )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "tflite"])
def test_standin_pipeline_end_to_end(tmp_path: Path, images: Path, backend: str) -> None:
    """One Offline accuracy and one short performance test through the CLI."""
    need_backend(backend)
    proc = run_cli(
        "--workspace",
        str(tmp_path / "ws"),
        "run",
        "--model",
        "resnet50-standin",
        "--dataset-path",
        str(images),
        "--backend",
        backend,
        "--batch-size",
        "4",
        "--min-duration",
        "1",
        "--count",
        "8",
        "--json",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    acc, perf = json.loads(proc.stdout)
    for record, mode in ((acc, "accuracy"), (perf, "performance")):
        assert record["status"] == "ok", record.get("error")
        assert record["standin"] is True
        config = record["config"]
        assert (config["mode"], config["scenario"], config["backend"]) == (mode, "Offline", backend)
    assert acc["accuracy"]["total"] == 8
    assert perf["result"]["valid"] is True
    # The accuracy log holds the class each image got: onnxruntime's ArgMax:0 - 1.
    import onnxruntime as ort

    from perfpilot.tasks.imagenet.dataset import ImagenetDataset

    session = ort.InferenceSession(str(ensure_resnet50_standin()))
    (argmax,) = session.run(
        ["ArgMax:0"], {"input_tensor:0": ImagenetDataset(images).samples(np.arange(8))}
    )
    log = json.loads((Path(str(acc["run_dir"])) / "mlperf_log_accuracy.json").read_text())
    answered = {
        r["qsl_idx"]: int(np.frombuffer(bytes.fromhex(r["data"]), np.int32)[0]) for r in log
    }
    assert answered == {i: int(argmax[i]) - 1 for i in range(8)}
