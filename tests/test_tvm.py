"""What only the tvm backend does: its compiled-module cache, its thread pools, its
refusals. The shared contract (outputs equal to onnxruntime's, batches, thread safety,
buffers, close) is in test_backend_contract.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perfpilot.backends import BACKENDS, BackendConfig, create_backend
from perfpilot.backends.registry import backend_class
from perfpilot.errors import ModelFileError, UsageError
from perfpilot.tasks.digits.dataset import DigitsDataset

entry = BACKENDS["tvm"]
pytestmark = pytest.mark.skipif(
    not entry.installed(), reason=f"tvm is not installed; install it with: {entry.install_hint()}"
)

RTOL = ATOL = 1e-4  # fp32 against onnxruntime, as in the contract suite


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return DigitsDataset().samples(np.arange(16))


@pytest.fixture(scope="module")
def reference(digits_model: Path, samples: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(digits_model), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(["logits"], {"input": samples})[0]
    return out


def _load(model: Path, threads: int | None = None) -> Any:
    backend = create_backend("tvm", BackendConfig(threads=threads, output_shape=(10,)))
    backend.load(model)
    return backend


def test_second_load_uses_the_cache_and_a_corrupt_module_is_rebuilt(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    digits_model: Path,
    samples: np.ndarray,
    reference: np.ndarray,
) -> None:
    from perfpilot.backends.tvm.compile import compile_model

    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))  # a cache of our own
    first = compile_model(digits_model, "cpu")
    again = compile_model(digits_model, "cpu")
    assert first.built and not again.built
    assert again.library == first.library
    meta = json.loads((first.library.parent / "build.json").read_text())
    assert meta["spec"]["model_sha256"] == first.spec.model_sha256
    assert meta["spec"]["target"].startswith('{"kind":"llvm"')
    assert '"mcpu"' in meta["spec"]["target"]  # built for this CPU, not a generic x86

    # Flip bytes in the middle of the library: the hash no longer matches, so it is
    # rebuilt rather than loaded.
    data = bytearray(first.library.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    first.library.write_bytes(bytes(data))
    rebuilt = compile_model(digits_model, "cpu")
    assert rebuilt.built
    backend = _load(digits_model)
    try:
        np.testing.assert_allclose(backend.predict(samples), reference, rtol=RTOL, atol=ATOL)
    finally:
        backend.close()

    # A module whose build record is missing (a build cut short) does not count either.
    (first.library.parent / "build.json").unlink()
    assert compile_model(digits_model, "cpu").built


def test_cache_key_changes_with_the_model(tmp_path: Path, digits_model: Path) -> None:
    from perfpilot.backends.tvm.compile import BuildSpec

    spec = BuildSpec("a" * 64, "llvm", "0.27", "s/1")
    assert spec.key() == BuildSpec("a" * 64, "llvm", "0.27", "s/1").key()
    for other in (
        BuildSpec("b" * 64, "llvm", "0.27", "s/1"),
        BuildSpec("a" * 64, "llvm -mcpu=x", "0.27", "s/1"),
        BuildSpec("a" * 64, "llvm", "0.28", "s/1"),
        BuildSpec("a" * 64, "llvm", "0.27", "s/2"),
    ):
        assert other.key() != spec.key()


@pytest.mark.parametrize("threads", [1, 2])
def test_each_worker_thread_gets_a_pool_of_backend_threads(
    digits_model: Path, samples: np.ndarray, reference: np.ndarray, threads: int
) -> None:
    import tvm

    backend = _load(digits_model, threads=threads)
    seen: list[int] = []

    def work() -> None:
        np.testing.assert_allclose(backend.predict(samples), reference, rtol=RTOL, atol=ATOL)
        seen.append(int(tvm.get_global_func("runtime.NumThreads")()))

    try:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join(timeout=120)
        assert seen == [threads]
    finally:
        backend.close()


def test_any_batch_size_runs_on_one_module(
    digits_model: Path, samples: np.ndarray, reference: np.ndarray
) -> None:
    backend = _load(digits_model)
    try:
        for size in (1, 3, 16):
            out = backend.predict(samples[:size])
            np.testing.assert_allclose(out, reference[:size], rtol=RTOL, atol=ATOL)
    finally:
        backend.close()


@pytest.mark.parametrize("kind", ["text", "missing"])
def test_refuses_files_that_are_not_onnx(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.onnx"
    if kind == "text":
        path.write_text("this is not a model\n")
    backend = create_backend("tvm", BackendConfig(output_shape=(10,)))
    with pytest.raises(ModelFileError) as caught:
        backend.load(path)
    line = caught.value.one_line()
    assert str(path) in line
    assert "\n" not in line


def test_predict_before_load_is_a_usage_error(samples: np.ndarray) -> None:
    backend = create_backend("tvm", BackendConfig(output_shape=(10,)))
    with pytest.raises(UsageError, match="load"):
        backend.predict(samples)


def test_cuda_without_a_gpu_is_refused() -> None:
    import tvm

    if tvm.runtime.enabled("cuda") and tvm.cuda(0).exist:
        pytest.skip("a CUDA GPU is visible here; the refusal cannot be seen")
    with pytest.raises(UsageError, match="CUDA") as caught:
        backend_class("tvm", "cuda")
    assert "--device cpu" in caught.value.one_line()


def test_default_schedule_leaves_no_kernel_unscheduled(digits_model: Path) -> None:
    """Every kernel of digits-cnn gets a parallel loop from the default schedule."""
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu
    from tvm.tirx import PrimFunc

    from perfpilot.backends.tvm.compile import import_onnx, make_target
    from perfpilot.backends.tvm.schedule import default_schedule_pass

    target = make_target("cpu")
    with target:
        mod = tvm.transform.Sequential([*cpu.legalize_passes(target), default_schedule_pass()])(
            import_onnx(digits_model)
        )
    kernels = {gv.name_hint: f for gv, f in mod.functions.items() if isinstance(f, PrimFunc)}
    assert kernels
    for name, func in kernels.items():
        assert "T.parallel" in func.script(), name


def test_model_exported_with_batch_one_answers_any_batch(
    tmp_path: Path, digits_model: Path, samples: np.ndarray, reference: np.ndarray
) -> None:
    import onnx

    model = onnx.load(str(digits_model))
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    dim.Clear()
    dim.dim_value = 1
    fixed = tmp_path / "batch1.onnx"
    onnx.save(model, str(fixed))
    backend = _load(fixed)
    try:
        np.testing.assert_allclose(
            backend.predict(samples[:7]), reference[:7], rtol=RTOL, atol=ATOL
        )
    finally:
        backend.close()
