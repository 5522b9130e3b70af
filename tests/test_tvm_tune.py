"""Opt-in MetaSchedule tuning of the tvm backend (``--backend-option tune_trials=N``):
tuned with a few trials, records and module cached, outputs equal to onnxruntime's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perfpilot.backends import BACKENDS, BackendConfig, create_backend
from perfpilot.backends.tvm.tune import TuneSettings
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


def test_bad_settings_are_one_line_errors() -> None:
    from perfpilot.backends.registry import backend_class
    from perfpilot.backends.tvm.tune import tune_settings

    tvm = backend_class("tvm")

    def config(device: str = "cpu", **options: object) -> Any:
        return tvm.make_config(BackendConfig(device=device), options)

    assert tune_settings(config()) is None
    with pytest.raises(UsageError, match="'many' for backend option tune_trials"):
        config(tune_trials="many")
    with pytest.raises(UsageError, match="CPU modules only"):
        config("cuda", tune_trials=4)
    with pytest.raises(UsageError, match="0 for backend option tune_batch") as caught:
        config(tune_trials=4, tune_batch=0)
    assert "Backend 'tvm' takes: tune_trials, tune_batch." in caught.value.one_line()
    with pytest.raises(UsageError, match="unknown backend option 'tune_trails'"):
        config(tune_trails=4)
    assert tune_settings(config(tune_trials="4")) == TuneSettings(trials=4, batch=1)


def test_tuned_module_is_cached_with_its_records_and_matches_onnxruntime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_model: Path
) -> None:
    import onnxruntime as ort

    from perfpilot.backends.tvm.compile import compile_model, discard

    _tunable()
    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    settings = TuneSettings(trials=4, batch=4)

    first = compile_model(digits_model, "cpu", settings)
    assert first.built and first.tuned and first.batch == 4
    assert "metaschedule-4t-b4" in first.spec.schedule
    tuning = first.library.parent / "tuning"
    records = (tuning / "database_tuning_record.json").read_text().splitlines()
    assert records  # at least one measured candidate
    assert json.loads((tuning / "done.json").read_text())["trials"] == 4

    # The records are for this module's kernels: applying them schedules some of them.
    assert _kernels_with_records(digits_model, tuning) >= 2

    again = compile_model(digits_model, "cpu", settings)  # module from the cache
    assert not again.built and again.library == first.library

    discard(first.library.parent)  # module gone, records kept: rebuilt without tuning
    rebuilt = compile_model(digits_model, "cpu", settings)
    assert rebuilt.built and not rebuilt.tuned

    samples = DigitsDataset().samples(np.arange(11))
    session = ort.InferenceSession(str(digits_model), providers=["CPUExecutionProvider"])
    want = session.run(["logits"], {"input": samples})[0]
    options = {"tune_trials": 4, "tune_batch": 4}
    backend = create_backend("tvm", BackendConfig(output_shape=(10,)), options)
    backend.load(digits_model)  # the cached tuned module
    # 11 = 4 + 4 + 3: two whole chunks and one padded one; 1: a single padded chunk.
    np.testing.assert_allclose(backend.predict(samples), want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(backend.predict(samples[:1]), want[:1], rtol=RTOL, atol=ATOL)
    backend.close()
