"""Opt-in MetaSchedule tuning of the tvm backend (PERFPILOT_TVM_TUNE_TRIALS): tuned with
a few trials, records and module cached, outputs equal to onnxruntime's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from perfpilot.backends import BACKENDS, BackendConfig, create_backend
from perfpilot.errors import UsageError
from perfpilot.tasks.digits.dataset import DigitsDataset

entry = BACKENDS["tvm"]
pytestmark = pytest.mark.skipif(
    not entry.installed(), reason=f"tvm is not installed; install it with: {entry.install_hint()}"
)

RTOL = ATOL = 1e-4  # fp32 against onnxruntime, as in the contract suite


def _tunable() -> None:
    from perfpilot.backends.tvm.tune import GOOD_FFI, ffi_problem

    problem = ffi_problem()
    if problem:
        pytest.skip(f"{problem}; pip install 'apache-tvm-ffi=={GOOD_FFI}'")


def _kernels_with_records(model: Path, tuning: Path) -> int:
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu
    from tvm.tirx import PrimFunc

    from perfpilot.backends.tvm.compile import import_onnx, make_target
    from perfpilot.backends.tvm.tune import apply_pass

    target = make_target("cpu", tuned=True)
    with target:
        legal = tvm.transform.Sequential(
            [*cpu.library_dispatch_passes(target), *cpu.legalize_passes(target)]
        )(import_onnx(model, batch=4))
        applied = apply_pass(tuning)(legal)
    return sum(
        1
        for _, func in applied.functions_items()
        if isinstance(func, PrimFunc) and func.attrs and "tirx.is_scheduled" in func.attrs
    )


def test_bad_settings_are_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from perfpilot.backends.tvm.tune import tune_settings

    monkeypatch.delenv("PERFPILOT_TVM_TUNE_TRIALS", raising=False)
    assert tune_settings("cpu") is None
    monkeypatch.setenv("PERFPILOT_TVM_TUNE_TRIALS", "many")
    with pytest.raises(UsageError, match="PERFPILOT_TVM_TUNE_TRIALS='many'"):
        tune_settings("cpu")
    monkeypatch.setenv("PERFPILOT_TVM_TUNE_TRIALS", "4")
    with pytest.raises(UsageError, match="CPU modules only"):
        tune_settings("cuda")
    monkeypatch.setenv("PERFPILOT_TVM_TUNE_BATCH", "0")
    with pytest.raises(UsageError, match="PERFPILOT_TVM_TUNE_BATCH='0'"):
        tune_settings("cpu")


def test_tuned_module_is_cached_with_its_records_and_matches_onnxruntime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_model: Path
) -> None:
    import onnxruntime as ort

    from perfpilot.backends.tvm.compile import compile_model, discard

    _tunable()
    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PERFPILOT_TVM_TUNE_TRIALS", "4")
    monkeypatch.setenv("PERFPILOT_TVM_TUNE_BATCH", "4")

    first = compile_model(digits_model, "cpu")
    assert first.built and first.tuned and first.batch == 4
    assert "metaschedule-4t-b4" in first.spec.schedule
    tuning = first.library.parent / "tuning"
    records = (tuning / "database_tuning_record.json").read_text().splitlines()
    assert records  # at least one measured candidate
    assert json.loads((tuning / "done.json").read_text())["trials"] == 4

    # The records are for this module's kernels: applying them schedules some of them.
    assert _kernels_with_records(digits_model, tuning) >= 2

    again = compile_model(digits_model, "cpu")  # module from the cache
    assert not again.built and again.library == first.library

    discard(first.library.parent)  # module gone, records kept: rebuilt without tuning
    rebuilt = compile_model(digits_model, "cpu")
    assert rebuilt.built and not rebuilt.tuned

    samples = DigitsDataset().samples(np.arange(11))
    session = ort.InferenceSession(str(digits_model), providers=["CPUExecutionProvider"])
    want = session.run(["logits"], {"input": samples})[0]
    backend = create_backend("tvm", BackendConfig(output_shape=(10,)))
    backend.load(digits_model)  # the cached tuned module
    # 11 = 4 + 4 + 3: two whole chunks and one padded one; 1: a single padded chunk.
    np.testing.assert_allclose(backend.predict(samples), want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(backend.predict(samples[:1]), want[:1], rtol=RTOL, atol=ATOL)
    backend.close()
