"""What the tensorflow and tflite backends do beyond the shared contract suite: the cached
SavedModel / .tflite of the built-in model, user models checked against the task before
LoadGen starts, clear errors for wrong or corrupt files, quiet TensorFlow logs, and
``perfpilot run`` end to end on both."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from perfpilot.backends import BACKENDS, BackendConfig, create_backend
from perfpilot.backends.registry import backend_class
from perfpilot.engine.prepare import check_model_file
from perfpilot.errors import MissingExtraError, ModelFileError, UsageError
from perfpilot.tasks import get_task
from perfpilot.tasks.digits.dataset import DigitsDataset
from tests.conftest import TF_LOADER, run_cli

DIGITS = get_task("digits")
OUTPUT_SHAPE = (10,)


def _need(name: str) -> None:
    entry = BACKENDS[name]
    if not entry.installed():
        pytest.skip(f"backend {name!r} is not installed; install it with: {entry.install_hint()}")


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return DigitsDataset().samples(np.arange(16))


@pytest.fixture(scope="module")
def reference(digits_model: Path, samples: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(digits_model), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(["logits"], {"input": samples})[0]
    return out


@pytest.fixture(scope="module")
def wrong_shape_savedmodel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SavedModel that takes float32 [N, 3, 4] (not the digits task's [N, 1, 8, 8])."""
    _need("tensorflow")
    from perfpilot.backends.tensorflow.runtime import import_tensorflow

    tf = import_tensorflow()

    class Wrong(tf.Module):  # type: ignore[misc,name-defined]
        @tf.function(input_signature=[tf.TensorSpec([None, 3, 4], tf.float32, name="x")])  # type: ignore[misc]
        def serve(self, x: object) -> dict[str, object]:
            return {"scores": tf.reshape(x, [-1, 12])[:, :10]}

    folder = tmp_path_factory.mktemp("wrong") / "wrong_savedmodel"
    module = Wrong()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def _onnx_other(path: Path) -> Path:
    """A valid ONNX model with the digits signature that is not digits-cnn."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((64, 10), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "not-digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=[weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("perfpilot: error: ")
    return lines[0]


# --- the generated SavedModel and .tflite of digits-cnn ----------------------------------


def test_saved_model_is_cached_and_rebuilt_when_damaged(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    digits_model: Path,
    samples: np.ndarray,
    reference: np.ndarray,
) -> None:
    _need("tensorflow")
    from perfpilot.backends.tensorflow.builtin import ensure_saved_model

    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    first = ensure_saved_model(digits_model, loader=TF_LOADER)
    manifest = first.parent / "manifest.json"
    record = json.loads(manifest.read_text())
    assert record["onnx_sha256"] in first.parent.name
    assert record["tensorflow"] in first.parent.name
    built = manifest.stat().st_mtime_ns
    assert ensure_saved_model(digits_model, loader=TF_LOADER) == first
    assert manifest.stat().st_mtime_ns == built  # reused, not rebuilt
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".build-")]

    (first / "saved_model.pb").write_bytes(b"damaged")
    again = ensure_saved_model(digits_model, loader=TF_LOADER)
    assert again == first
    from perfpilot.artifacts.files import tree_sha256

    assert manifest.stat().st_mtime_ns != built  # rebuilt, and the manifest says so
    assert json.loads(manifest.read_text())["sha256"] == tree_sha256(again)
    backend = create_backend(
        "tensorflow", BackendConfig(threads=1, output_shape=OUTPUT_SHAPE, loader=TF_LOADER)
    )
    backend.load(again)  # as a user's SavedModel directory
    try:
        np.testing.assert_allclose(backend.predict(samples), reference, rtol=1e-4, atol=1e-4)
    finally:
        backend.close()


def test_tflite_without_tensorflow_uses_the_cache_or_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_model: Path
) -> None:
    _need("tflite")
    from perfpilot.backends.tflite import convert

    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    # What a user with only ai-edge-litert installed gets (TensorFlow is installed here).
    monkeypatch.setattr(convert, "tensorflow_installed", lambda: False)
    with pytest.raises(MissingExtraError) as caught:
        convert.ensure_builtin_tflite(digits_model, TF_LOADER)
    line = caught.value.one_line()
    assert "pip install 'perfpilot[tensorflow]'" in line
    assert "--model-path model.tflite" in line
    assert not list((tmp_path / "cache").rglob("*.tflite"))

    _need("tensorflow")
    monkeypatch.setattr(convert, "tensorflow_installed", lambda: True)
    made = convert.ensure_builtin_tflite(digits_model, TF_LOADER)
    assert made.read_bytes()[4:8] == b"TFL3"
    assert json.loads((made.parent / "manifest.json").read_text())["precision"] == "fp32"
    monkeypatch.setattr(convert, "tensorflow_installed", lambda: False)
    assert (
        convert.ensure_builtin_tflite(digits_model, TF_LOADER) == made
    )  # found without TensorFlow


@pytest.mark.parametrize("name", ["tensorflow", "tflite"])
def test_other_onnx_models_are_refused(tmp_path: Path, name: str) -> None:
    _need(name)
    other = _onnx_other(tmp_path / "other.onnx")
    with pytest.raises(ModelFileError, match="runs only the built-in digits-cnn"):
        check_model_file(other, DIGITS, backend_class(name))
    backend = create_backend(name, BackendConfig(output_shape=OUTPUT_SHAPE, loader=TF_LOADER))
    with pytest.raises(ModelFileError) as caught:
        backend.load(other)
    assert str(other) in caught.value.one_line()


# --- a user's own model, checked before LoadGen -------------------------------------------


def test_user_saved_model_and_tflite_pass_the_check_and_run(
    tmp_path: Path, digits_model: Path, samples: np.ndarray, reference: np.ndarray
) -> None:
    _need("tensorflow")
    _need("tflite")
    from perfpilot.backends.tensorflow.builtin import ensure_saved_model
    from perfpilot.backends.tflite.convert import ensure_builtin_tflite

    saved = shutil.copytree(
        ensure_saved_model(digits_model, loader=TF_LOADER), tmp_path / "my_model"
    )
    lite = Path(
        shutil.copy(ensure_builtin_tflite(digits_model, TF_LOADER), tmp_path / "my_model.tflite")
    )
    for name, path in (("tensorflow", saved), ("tflite", lite)):
        check_model_file(path, DIGITS, backend_class(name))
        backend = create_backend(
            name, BackendConfig(threads=1, output_shape=OUTPUT_SHAPE, loader=TF_LOADER)
        )
        backend.load(path)
        try:
            out = backend.predict(samples)
        finally:
            backend.close()
        np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)


def test_wrong_input_shape_is_refused_before_loadgen(wrong_shape_savedmodel: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        check_model_file(wrong_shape_savedmodel, DIGITS, backend_class("tensorflow"))
    line = caught.value.one_line()
    assert "input 'x' is float32 [N, 3, 4], but the task feeds float32 [N, 1, 8, 8]" in line
    assert "\n" not in line

    _need("tflite")
    from perfpilot.backends.tensorflow.runtime import import_tensorflow

    tf = import_tensorflow()
    lite = wrong_shape_savedmodel.parent / "wrong.tflite"
    converter = tf.lite.TFLiteConverter.from_saved_model(str(wrong_shape_savedmodel))
    lite.write_bytes(converter.convert())
    with pytest.raises(ModelFileError, match=r"is float32 \[N, 3, 4\], but the task feeds"):
        check_model_file(lite, DIGITS, backend_class("tflite"))


def test_wrong_input_shape_through_the_cli_exits_2(
    tmp_path: Path, wrong_shape_savedmodel: Path
) -> None:
    ws = tmp_path / "ws"
    proc = run_cli(
        "--workspace",
        str(ws),
        "run",
        "--backend",
        "tensorflow",
        "--model-path",
        str(wrong_shape_savedmodel),
    )
    assert proc.returncode == 2, proc.stderr
    assert "input 'x' is float32 [N, 3, 4]" in _one_error_line(proc.stderr)  # no TF log lines
    assert not (ws / "runs").exists()


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("tensorflow", "no-pb", "is not a SavedModel directory (it has no saved_model.pb)"),
        ("tensorflow", "bad-pb", "is not a readable SavedModel"),
        ("tensorflow", "tflite-file", "backend 'tensorflow' does not read .tflite files"),
        ("tensorflow", "missing-dir", "model file not found"),
        ("tflite", "garbage", "is not a TFLite model (no TFL3 flatbuffer header)"),
        ("tflite", "truncated", "LiteRT cannot load"),
        ("tflite", "directory", "backend 'tflite' does not read directories"),
        ("onnxruntime", "directory", "Give it a .onnx file."),
    ],
)
def test_wrong_or_corrupt_model_files(
    tmp_path: Path, digits_model: Path, name: str, kind: str, expected: str
) -> None:
    _need(name)
    path = tmp_path / "model"
    if kind in ("no-pb", "directory"):
        path.mkdir()
        (path / "variables").mkdir()
    elif kind == "bad-pb":
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"\xff\xff\xff not a protobuf")
    elif kind == "tflite-file":
        path = tmp_path / "model.tflite"
        path.write_bytes(b"x" * 16)
    elif kind == "garbage":
        path = tmp_path / "model.tflite"
        path.write_text("this is not a model\n")
    elif kind == "truncated":
        _need("tensorflow")
        from perfpilot.backends.tflite.convert import ensure_builtin_tflite

        whole = ensure_builtin_tflite(digits_model, TF_LOADER).read_bytes()
        path = tmp_path / "model.tflite"
        path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(UsageError) as caught:
        check_model_file(path, DIGITS, backend_class(name))
    line = caught.value.one_line()
    assert expected in line
    assert "\n" not in line


def test_truncated_variables_fail_to_load_with_one_line(tmp_path: Path, digits_model: Path) -> None:
    """The signature (saved_model.pb) is intact, so only loading can find the damage."""
    _need("tensorflow")
    from perfpilot.backends.tensorflow.builtin import ensure_saved_model

    saved = shutil.copytree(
        ensure_saved_model(digits_model, loader=TF_LOADER), tmp_path / "exported"
    )
    (data,) = (saved / "variables").glob("variables.data*")
    data.write_bytes(data.read_bytes()[:1000])
    check_model_file(saved, DIGITS, backend_class("tensorflow"))  # passes: signature only
    backend = create_backend(
        "tensorflow", BackendConfig(output_shape=OUTPUT_SHAPE, loader=TF_LOADER)
    )
    with pytest.raises(ModelFileError) as caught:
        backend.load(saved)
    line = caught.value.one_line()
    assert f"tensorflow cannot load the SavedModel {saved} (OutOfRangeError: Read less" in line
    assert "\n" not in line


# --- devices and logs ---------------------------------------------------------------------


def test_cuda_is_refused_with_a_clear_error() -> None:
    _need("tflite")
    with pytest.raises(UsageError, match="backend 'tflite' does not support device 'cuda'"):
        backend_class("tflite", "cuda")
    _need("tensorflow")
    from perfpilot.backends.tensorflow.runtime import import_tensorflow

    if import_tensorflow().config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees a GPU here; the refusal cannot be seen")
    with pytest.raises(UsageError, match="sees no GPU") as caught:
        backend_class("tensorflow", "cuda")
    assert "--device cpu" in caught.value.one_line()


def test_log_filter_drops_info_and_keeps_errors(capfd: pytest.CaptureFixture[str]) -> None:
    from perfpilot.backends.tensorflow.runtime import filtered_stderr

    lines = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        "I0000 00:00:1795437226.462031    9320 port.cc:153] oneDNN custom operations are on.\n",
        "W0000 00:00:1795437226.5    9320 cpu_feature_guard.cc:227] a warning\n",
        "E0000 00:00:1795437226.6    9320 loader.cc:12] a real error\n",
        "Traceback-like plain line\n",
    ]
    with filtered_stderr(2):
        os.write(2, "".join(lines).encode())
    err = capfd.readouterr().err
    assert err == lines[3] + lines[4]
    with filtered_stderr(1):
        os.write(2, "".join(lines).encode())
    assert capfd.readouterr().err == "".join(lines[2:])


# --- perfpilot run end to end -------------------------------------------------------------


def _records(ws: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((ws / "runs").glob("*/run.json"))]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tensorflow", "tflite"])
def test_run_builtin_model_end_to_end(tmp_path: Path, digits_model: Path, name: str) -> None:
    _need(name)
    ws = tmp_path / "ws"
    proc = run_cli(
        "--workspace", str(ws), "run", "--backend", name, "--min-duration", "0.3", "--json"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = _records(ws)
    assert [r["config"]["mode"] for r in records] == ["accuracy", "performance"]  # type: ignore[index]
    accuracy, performance = records
    assert accuracy["accuracy"]["passed"] is True  # type: ignore[index]
    assert performance["result"]["valid"] is True  # type: ignore[index]
    assert performance["provenance"]["software"]["backend"]  # type: ignore[index]
    for record in records:
        log = (Path(str(record["run_dir"])) / "child.log").read_text()
        assert "I0000" not in log and "absl::InitializeLog" not in log, log


@pytest.mark.slow
def test_run_user_saved_model_directory(tmp_path: Path, digits_model: Path) -> None:
    _need("tensorflow")
    from perfpilot.backends.tensorflow.builtin import ensure_saved_model

    saved = shutil.copytree(
        ensure_saved_model(digits_model, loader=TF_LOADER), tmp_path / "exported"
    )
    ws = tmp_path / "ws"
    proc = run_cli(
        "--workspace",
        str(ws),
        "run",
        "--backend",
        "tensorflow",
        "--model-path",
        str(saved),
        "--mode",
        "accuracy",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (record,) = _records(ws)
    assert record["model"]["substituted"] is True  # type: ignore[index]
    assert record["model"]["path"] == str(saved)  # type: ignore[index]
    assert len(str(record["model"]["sha256"])) == 64  # type: ignore[index]
    assert record["accuracy"]["passed"] is True  # type: ignore[index]
