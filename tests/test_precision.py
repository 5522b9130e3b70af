"""``--precision``: the option, its refusal where a backend cannot run it, and OpenVINO's
bf16 / fp16 (inference precision hint) and int8 (NNCF post-training quantization).

Tolerances against OpenVINO's own fp32 logits on the 360 held-out digits:
bf16 and fp16 (8 and 11 mantissa bits): every logit within 3% of the largest |logit|,
and top-1 agreement >= 99%; int8: top-1 agreement >= 95% (the logits themselves move by
the quantization step, so they are not compared one by one).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perfpilot.backends import BACKENDS, BackendConfig, create_backend
from perfpilot.backends.base import CalibrationData
from perfpilot.config import build_run_configs
from perfpilot.engine.prepare import prepare
from perfpilot.errors import UsageError
from perfpilot.records import config_hash
from perfpilot.tasks.digits.dataset import DigitsDataset
from tests.conftest import run_cli

LOW_PRECISION_REL_ATOL = 0.03
LOW_PRECISION_TOP1 = 0.99
INT8_TOP1 = 0.95


def _need_openvino() -> None:
    entry = BACKENDS["openvino"]
    if not entry.installed():
        pytest.skip(f"backend 'openvino' is not installed; install it with: {entry.install_hint()}")


def _need_nncf() -> None:
    _need_openvino()
    if importlib.util.find_spec("nncf") is None:
        pytest.skip("nncf is not installed; install it with: pip install nncf")


def _cpu_has(capability: str) -> bool:
    import openvino as ov

    return capability in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def dataset() -> DigitsDataset:
    return DigitsDataset()


@pytest.fixture(scope="module")
def held_out(dataset: DigitsDataset) -> np.ndarray:
    return dataset.samples(np.arange(dataset.total_count))


def _calibration(dataset: DigitsDataset) -> CalibrationData:
    return CalibrationData(dataset.sha256(), dataset.total_count, dataset.samples)


def _openvino(model: Path, precision: str, dataset: DigitsDataset | None = None) -> Any:
    backend: Any = create_backend("openvino", BackendConfig(threads=1, precision=precision))  # type: ignore[arg-type]
    if dataset is not None:
        backend.use_calibration(_calibration(dataset))
    backend.load(model)
    return backend


def _runtime_precisions(backend: Any, layer: str) -> set[str]:
    """What OpenVINO's compiled graph runs ``layer`` nodes in (white-box on purpose)."""
    runtime = backend._compiled.get_runtime_model()
    return {
        op.get_rt_info()["runtimePrecision"].astype(str)
        for op in runtime.get_ops()
        if op.get_rt_info()["layerType"].astype(str) == layer
    }


@pytest.fixture(scope="module")
def fp32_logits(digits_model: Path, held_out: np.ndarray) -> np.ndarray:
    _need_openvino()
    backend = _openvino(digits_model, "fp32")
    try:
        return np.asarray(backend.predict(held_out))
    finally:
        backend.close()


# --- the option --------------------------------------------------------------------------


def test_precision_option_is_checked_and_part_of_the_config_hash() -> None:
    (fp32,) = build_run_configs("Offline", "performance")
    (int8,) = build_run_configs("Offline", "performance", precision="INT8")
    assert fp32.precision == "fp32" and int8.precision == "int8"
    assert json.loads(int8.model_dump_json())["precision"] == "int8"
    assert config_hash(fp32.model_dump(mode="json")) != config_hash(int8.model_dump(mode="json"))
    with pytest.raises(UsageError, match="--precision") as caught:
        build_run_configs("Offline", "performance", precision="int4")
    assert "fp32, bf16, fp16, int8" in caught.value.one_line()


def test_unsupported_precision_is_refused_before_any_test(tmp_path: Path) -> None:
    (cfg,) = build_run_configs("Offline", "performance", backend="onnxruntime", precision="bf16")
    with pytest.raises(UsageError, match="does not support --precision bf16") as caught:
        prepare(cfg)
    assert "It supports: fp32." in caught.value.one_line()
    ws = tmp_path / "ws"
    proc = run_cli("--workspace", str(ws), "run", "--backend", "null", "--precision", "int8")
    assert proc.returncode == 2, proc.stderr
    assert "backend 'null' does not support --precision int8" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(ws.glob("runs/*")), "no test may start"


def test_sweep_takes_precision_and_refuses_what_a_backend_lacks(tmp_path: Path) -> None:
    from perfpilot.tune.sweep import load_sweep

    _need_nncf()
    path = tmp_path / "s.yaml"
    path.write_text("name: p\nbase: {backend: openvino}\ngrid: {precision: [fp32, int8]}\n")
    spec = load_sweep(path)
    assert sorted(p.configs()[0].precision for p in spec.points) == ["fp32", "int8"]
    path.write_text("name: p\nbase: {backend: onnxruntime}\ngrid: {precision: [fp32, int8]}\n")
    with pytest.raises(UsageError, match="point precision=int8: backend 'onnxruntime' does not"):
        load_sweep(path)


# --- OpenVINO bf16 / fp16 ----------------------------------------------------------------


@pytest.mark.parametrize(("precision", "capability"), [("bf16", "BF16"), ("fp16", "FP16")])
def test_openvino_low_precision_hint(
    digits_model: Path,
    held_out: np.ndarray,
    fp32_logits: np.ndarray,
    precision: str,
    capability: str,
) -> None:
    from perfpilot.backends.openvino.backend import OpenVinoBackend

    if not _cpu_has(capability):
        # OpenVINO would silently run another precision; perfpilot refuses up front.
        with pytest.raises(UsageError, match=f"this CPU has no {precision} support"):
            OpenVinoBackend.check_precision(precision)
        pytest.skip(f"this CPU lacks {capability}: checked that {precision} is refused")
    backend = _openvino(digits_model, precision)
    try:
        buffer = held_out.copy()
        out = backend.predict(buffer)
        assert not np.shares_memory(backend._local.request.get_input_tensor(0).data, buffer)
        assert _runtime_precisions(backend, "Convolution") == {precision.replace("fp", "f")}
    finally:
        backend.close()
    assert out.dtype == np.float32 and out.shape == fp32_logits.shape
    atol = LOW_PRECISION_REL_ATOL * float(np.abs(fp32_logits).max())
    np.testing.assert_allclose(out, fp32_logits, rtol=0, atol=atol)
    assert not np.array_equal(out, fp32_logits), "the hint changed nothing"
    agree = float(np.mean(out.argmax(1) == fp32_logits.argmax(1)))
    assert agree >= LOW_PRECISION_TOP1


# --- OpenVINO int8 -----------------------------------------------------------------------


def test_openvino_int8_is_close_to_fp32_and_cached(
    digits_model: Path, dataset: DigitsDataset, held_out: np.ndarray, fp32_logits: np.ndarray
) -> None:
    _need_nncf()
    from perfpilot.backends.openvino.quantize import cached_ok, int8_cache_root, quantized_model

    backend = _openvino(digits_model, "int8", dataset)
    try:
        buffer = held_out.copy()
        out = backend.predict(buffer)
        assert not np.shares_memory(backend._local.request.get_input_tensor(0).data, buffer)
        assert _runtime_precisions(backend, "Convolution") <= {"u8", "i8"}
    finally:
        backend.close()
    agree = float(np.mean(out.argmax(1) == fp32_logits.argmax(1)))
    assert agree >= INT8_TOP1, f"int8 agrees with fp32 on {agree:.1%} of 360 digits"

    again = quantized_model(digits_model, _calibration(dataset))
    assert not again.built and again.xml.parent.parent == int8_cache_root()
    assert again.spec.samples == 300 and again.spec.dataset_sha256 == dataset.sha256()
    # A damaged copy is not trusted: it is quantized again.
    (again.xml.parent / "model.bin").write_bytes(b"\0" * 16)
    assert not cached_ok(again.xml.parent, again.spec)
    rebuilt = quantized_model(digits_model, _calibration(dataset))
    assert rebuilt.built and cached_ok(rebuilt.xml.parent, rebuilt.spec)


def test_int8_without_calibration_data_is_refused(digits_model: Path) -> None:
    _need_nncf()
    with pytest.raises(UsageError, match="needs calibration samples"):
        _openvino(digits_model, "int8")


@pytest.mark.slow
def test_int8_accuracy_run_passes_and_reuses_the_cache(tmp_path: Path, digits_model: Path) -> None:
    _need_nncf()
    ws = tmp_path / "ws"
    args = ("--workspace", str(ws), "run", "--backend", "openvino", "--precision", "int8")
    first = run_cli(*args, "--mode", "accuracy", "--json")
    assert first.returncode == 0, first.stderr
    (record,) = json.loads(first.stdout)
    assert record["config"]["precision"] == "int8"
    assert record["accuracy"]["passed"] and record["accuracy"]["total"] == 360
    from perfpilot.backends.openvino.quantize import int8_cache_root

    (build,) = int8_cache_root().glob("*/build.json")
    stamp = build.stat().st_mtime_ns
    second = run_cli(*args, "--mode", "performance", "--count", "64", "--min-duration", "0.2")
    assert second.returncode == 0, second.stderr
    assert build.stat().st_mtime_ns == stamp, "the second run quantized again"
    assert [p.name for p in int8_cache_root().glob("*/build.json")] == ["build.json"]
