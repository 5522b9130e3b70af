"""The contract every registered backend keeps, checked on the built-in digits-cnn.

Each backend (and each of its devices usable here) must: load the model, warm up, answer
a batch of the held-out digits with float32 scores that match onnxruntime's on the same
weights (fp32: rtol 1e-4, atol 1e-4; the null backend only answers with the right
shape), answer batches of 1 and 7, be thread-safe in ``predict``, not retain the
caller's input buffer, report a version and close. A backend whose runtime is not
installed is skipped with the command that installs it.

The last section tests what only the pytorch backend does (TorchScript files, refusing
other files, its CUDA check).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perfpilot.backends import BACKENDS, Backend, BackendConfig, create_backend
from perfpilot.backends.registry import BackendEntry, backend_class
from perfpilot.errors import MissingExtraError, ModelFileError, UsageError
from perfpilot.tasks import get_task
from perfpilot.tasks.digits import model as digits
from perfpilot.tasks.digits.dataset import DigitsDataset
from tests.conftest import TORCH_LOADER

#: fp32 backends against onnxruntime: different kernels sum in different orders, nothing
#: more (bf16 or TF32 would miss this by orders of magnitude).
FP32_RTOL = 1e-4
FP32_ATOL = 1e-4
BATCH = 64
OUTPUT_SHAPE = (digits.NUM_CLASSES,)
#: Backends that answer without computing: their output is checked for shape only.
NO_OUTPUT_EQUALITY = {"null"}
#: Backends that only generate (a model served elsewhere): their own tests check them.
GENERATIVE_ONLY = {"openai", "transformers", "vllm"}

CASES = [
    pytest.param(
        (name, device), id=f"{name}-{device}", marks=(pytest.mark.gpu,) if device == "cuda" else ()
    )
    for name in sorted(BACKENDS)
    if name not in GENERATIVE_ONLY
    for device in BACKENDS[name].devices
]


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    """The first 64 held-out digits, preprocessed: [64, 1, 8, 8] float32."""
    return DigitsDataset().samples(np.arange(BATCH))


@pytest.fixture(scope="module")
def reference(digits_model: Path, samples: np.ndarray) -> np.ndarray:
    """onnxruntime's logits, straight from its own API (not through a backend)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(digits_model), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(["logits"], {"input": samples})[0]
    return out


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(backend, device), skipped when the runtime or the device is missing here."""
    name, device = request.param
    entry = BACKENDS[name]
    if not entry.installed():
        pytest.skip(f"backend {name!r} is not installed; install it with: {entry.install_hint()}")
    cls = backend_class(name)  # an installed runtime that fails to import fails the test
    try:
        cls.check_device(device)
    except UsageError as err:
        pytest.skip(f"backend {name!r} cannot use {device} here: {err.one_line()}")
    return name, device


def _load(name: str, device: str, model: Path, threads: int | None = None) -> Backend:
    loader = get_task("digits").loader(name)
    config = BackendConfig(device=device, threads=threads, output_shape=OUTPUT_SHAPE, loader=loader)
    backend = create_backend(name, config)
    backend.load(model if backend.needs_model else None)
    return backend


@pytest.fixture
def backend(case: tuple[str, str], digits_model: Path) -> Iterator[Backend]:
    """A loaded backend; closed afterwards (again, for tests that close it themselves)."""
    loaded = _load(*case, digits_model)
    yield loaded
    loaded.close()


def _check_scores(backend: Backend, out: np.ndarray, expected: np.ndarray) -> None:
    assert isinstance(out, np.ndarray)
    assert out.shape == expected.shape
    assert out.dtype == np.float32
    if backend.name not in NO_OUTPUT_EQUALITY:
        np.testing.assert_allclose(out, expected, rtol=FP32_RTOL, atol=FP32_ATOL)


# --- the contract ---------------------------------------------------------------------


def test_version_is_a_non_empty_string(case: tuple[str, str]) -> None:
    version = backend_class(case[0]).version()
    assert isinstance(version, str)
    assert version.strip()


def test_predict_matches_onnxruntime(
    backend: Backend, samples: np.ndarray, reference: np.ndarray
) -> None:
    backend.warmup(samples[:8])
    _check_scores(backend, backend.predict(samples), reference)


@pytest.mark.parametrize("size", [1, 7])
def test_small_and_odd_batches(
    backend: Backend, samples: np.ndarray, reference: np.ndarray, size: int
) -> None:
    _check_scores(backend, backend.predict(samples[:size]), reference[:size])


def test_runtime_threads_setting(
    case: tuple[str, str], digits_model: Path, samples: np.ndarray, reference: np.ndarray
) -> None:
    backend = _load(*case, digits_model, threads=2)
    try:
        _check_scores(backend, backend.predict(samples), reference)
    finally:
        backend.close()


def test_predict_is_thread_safe(backend: Backend, samples: np.ndarray) -> None:
    """Two threads predicting different batches at once get what sequential calls get."""
    # Different sizes too, so that answers swapped between threads cannot look right.
    batches = [samples[:40].copy(), samples[40:].copy()]
    sequential = [backend.predict(b).copy() for b in batches]
    rounds = 25
    start = threading.Barrier(len(batches))

    def work(batch: np.ndarray) -> list[np.ndarray]:
        start.wait(timeout=30)
        return [backend.predict(batch).copy() for _ in range(rounds)]

    with ThreadPoolExecutor(len(batches)) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(work, b) for b in batches]]
    for got, want in zip(results, sequential, strict=True):
        for out in got:
            np.testing.assert_allclose(out, want, rtol=FP32_RTOL, atol=FP32_ATOL)


def test_input_buffer_is_not_retained(backend: Backend, samples: np.ndarray) -> None:
    """Changing the input after predict changes neither that answer nor later ones."""
    buffer = samples.copy()
    first = backend.predict(buffer)
    kept = first.copy()
    assert not np.shares_memory(first, buffer)
    buffer[...] = 5.0  # far outside the 0..1 the model saw
    second = backend.predict(samples.copy())
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_allclose(second, kept, rtol=FP32_RTOL, atol=FP32_ATOL)


def test_close(backend: Backend) -> None:
    """close() returns quietly; the fixture closes once more, which must be harmless."""
    assert backend.close() is None


def test_missing_runtime_names_its_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user without an extra sees (the real extras are installed where CI runs)."""
    fake = BackendEntry(
        name="absent",
        target="perfpilot_absent_runtime:Backend",
        requires=("perfpilot_absent_runtime",),
        extra="absent",
        devices=("cpu",),
        description="a backend whose runtime is not installed",
    )
    monkeypatch.setitem(BACKENDS, "absent", fake)
    with pytest.raises(MissingExtraError) as caught:
        create_backend("absent", BackendConfig())
    assert fake.install_hint() == "pip install 'perfpilot[absent]'"
    assert fake.install_hint() in caught.value.one_line()


def test_config_class_and_options(case: tuple[str, str]) -> None:
    """Each backend builds its own frozen config; ``--backend-option`` takes only the
    fields that config adds, and a wrong key names itself and the valid ones."""
    name, device = case
    cls = backend_class(name)
    assert issubclass(cls.config_class, BackendConfig)
    assert cls.config_class.model_config.get("frozen") is True
    assert cls.config_class.model_config.get("extra") == "forbid"
    assert "onnx" in cls.model_formats
    assert not set(cls.option_names()) & set(BackendConfig.model_fields)
    config = cls.make_config(BackendConfig(device=device, threads=2, output_shape=OUTPUT_SHAPE))
    assert type(config) is cls.config_class
    assert (config.device, config.threads, config.output_shape) == (device, 2, OUTPUT_SHAPE)
    valid = ", ".join(cls.option_names()) or "no --backend-option"
    with pytest.raises(
        UsageError, match=f"unknown backend option 'nope' for backend '{name}'"
    ) as e:
        cls.make_config(None, {"nope": 1})
    assert valid in e.value.one_line() and "\n" not in e.value.one_line()
    assert e.value.exit_code == 2
    with pytest.raises(UsageError, match="'device' is not a backend option"):
        cls.make_config(None, {"device": "cuda"})


def test_check_model_is_on_the_abc(tmp_path: Path) -> None:
    """Backends that judge a file only when it loads inherit a check that passes."""
    assert Backend.check_model(tmp_path / "any.onnx", (1, 8, 8), "float32", OUTPUT_SHAPE) is None
    assert Backend.model_formats == ("onnx",) and Backend.config_class is BackendConfig


def test_catalog_tensor_names_reach_only_configs_that_have_them() -> None:
    """The engine offers every backend the catalog's tensor names; only the tensorflow
    config (frozen graphs) takes them, and the user's options win over them."""
    from perfpilot.backends.onnxruntime.backend import OnnxRuntimeBackend
    from perfpilot.backends.tensorflow.backend import TensorFlowBackend  # imports no TF

    defaults = {"input_names": ("input_tensor:0",), "output_names": ("ArgMax:0",)}
    plain = OnnxRuntimeBackend.make_config(BackendConfig(threads=1), None, defaults)
    assert plain.model_dump() == BackendConfig(threads=1).model_dump()
    tf: Any = TensorFlowBackend.make_config(BackendConfig(), None, defaults)
    assert (tf.input_names, tf.output_names) == (("input_tensor:0",), ("ArgMax:0",))
    tf = TensorFlowBackend.make_config(None, {"output_names": "softmax_tensor, x:0"}, defaults)
    assert (tf.input_names, tf.output_names) == (("input_tensor:0",), ("softmax_tensor", "x:0"))
    assert TensorFlowBackend.option_names() == ["input_names", "output_names"]


# --- OpenVINO specifics ---------------------------------------------------------------


def test_openvino_copies_inputs_and_keeps_fp32(digits_model: Path, samples: np.ndarray) -> None:
    """OpenVINO would otherwise wrap the caller's array (share_inputs) and pick bf16 on
    CPUs that have it; the contract above cannot see either on every machine."""
    entry = BACKENDS["openvino"]
    if not entry.installed():
        pytest.skip(f"backend 'openvino' is not installed; install it with: {entry.install_hint()}")
    backend: Any = _load("openvino", "cpu", digits_model)
    try:
        buffer = samples.copy()
        backend.predict(buffer)
        # White-box on purpose: the request of this thread holds the tensor it was fed.
        fed = backend._local.request.get_input_tensor(0).data
        assert not np.shares_memory(fed, buffer)
        import openvino as ov

        assert backend._compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    finally:
        backend.close()


# --- PyTorch specifics ----------------------------------------------------------------


# TorchScript is deprecated from torch 2.9 on, yet it is still the one way to ship a torch
# model as a file that runs without its Python code; the warning is torch's, not ours.
_TORCHSCRIPT_DEPRECATED = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def _need_torch() -> None:
    entry = BACKENDS["pytorch"]
    if not entry.installed():
        pytest.skip(f"backend 'pytorch' is not installed; install it with: {entry.install_hint()}")


@_TORCHSCRIPT_DEPRECATED
def test_pytorch_runs_torchscript_files(
    tmp_path: Path, digits_model: Path, samples: np.ndarray, reference: np.ndarray
) -> None:
    _need_torch()
    import torch

    from perfpilot.tasks.digits.torch_net import load_digits_cnn

    net = load_digits_cnn(digits_model)
    assert net is not None
    path = tmp_path / "digits.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    backend = _load("pytorch", "cpu", path)
    try:
        _check_scores(backend, backend.predict(samples), reference)
    finally:
        backend.close()


def _onnx_identity(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["logits"])],
        "not-digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 10])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
    )
    onnx.save(helper.make_model(graph), str(path))
    return path


@_TORCHSCRIPT_DEPRECATED
@pytest.mark.parametrize("kind", ["text", "other-onnx", "torch-save", "missing"])
def test_pytorch_refuses_other_files(tmp_path: Path, kind: str) -> None:
    _need_torch()
    import torch

    path = tmp_path / "model.bin"
    if kind == "text":
        path.write_text("this is not a model\n")
    elif kind == "other-onnx":
        _onnx_identity(path)
    elif kind == "torch-save":  # a pickled state dict: no code to run it with
        torch.save({"w": torch.zeros(3)}, str(path))
    backend = create_backend(
        "pytorch", BackendConfig(output_shape=OUTPUT_SHAPE, loader=TORCH_LOADER)
    )
    with pytest.raises(ModelFileError) as caught:
        backend.load(path)
    line = caught.value.one_line()
    assert str(path) in line
    assert "\n" not in line


def test_pytorch_refuses_cuda_without_cuda() -> None:
    _need_torch()
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here; the refusal cannot be seen")
    with pytest.raises(UsageError, match="CUDA") as caught:
        backend_class("pytorch", "cuda")
    assert "--device cpu" in caught.value.one_line()
