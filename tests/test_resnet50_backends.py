"""The ResNet50 v1.5 stand-in on the pytorch and tvm backends: same answers as
onnxruntime on the stand-in's own weights, and the whole pipeline (synthetic ImageNet
folder -> reference preprocessing -> stand-in -> LoadGen -> top-1) on each."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from perfpilot.backends import BackendConfig, create_backend
from perfpilot.tasks.imagenet.standin import ensure_resnet50_standin
from tests.conftest import TORCH_LOADER, need_backend, run_cli

#: Softmax scores of 1001 classes are about 1e-3 each; fp32 kernels that sum 2048-long
#: dot products in another order differ by ~1e-8 here.
SOFTMAX_ATOL = 1e-6


@pytest.fixture(scope="module")
def batch(images: Path) -> np.ndarray:
    from perfpilot.tasks.imagenet.dataset import ImagenetDataset

    return ImagenetDataset(images, size=2).samples(np.arange(2))


def test_pytorch_standin_matches_onnxruntime(
    standin: Path, batch: np.ndarray, reference: list[np.ndarray]
) -> None:
    need_backend("pytorch")
    import torch

    from perfpilot.tasks.imagenet.torch_net import load_resnet50_standin

    net = load_resnet50_standin(standin)
    assert net is not None
    with torch.inference_mode():
        argmax, softmax = net(torch.from_numpy(batch))
    np.testing.assert_allclose(softmax.numpy(), reference[1], rtol=0, atol=SOFTMAX_ATOL)
    assert argmax.tolist() == reference[0].tolist()
    # Through the backend: its first output, as the ONNX model orders them.
    backend = create_backend(
        "pytorch", BackendConfig(threads=1, output_shape=(1001,), loader=TORCH_LOADER)
    )
    backend.load(standin)
    try:
        out = backend.predict(batch)
    finally:
        backend.close()
    assert out.dtype == np.int64
    assert out.tolist() == reference[0].tolist()


def test_pytorch_refuses_a_graph_that_is_not_the_standin(
    tmp_path: Path, standin: Path, digits_model: Path
) -> None:
    need_backend("pytorch")
    import onnx

    from perfpilot.tasks.imagenet.torch_net import load_resnet50_standin

    assert load_resnet50_standin(digits_model) is None
    model = onnx.load(str(standin))
    # Same names and weights, but one convolution strided differently: another network.
    conv = [n for n in model.graph.node if n.op_type == "Conv"][5]
    for attr in conv.attribute:
        if attr.name == "strides":
            attr.ints[:] = [2, 2]
    changed = tmp_path / "changed.onnx"
    onnx.save(model, str(changed))
    assert load_resnet50_standin(changed) is None


def test_tvm_standin_matches_onnxruntime(
    standin: Path, batch: np.ndarray, reference: list[np.ndarray]
) -> None:
    need_backend("tvm")
    backend = create_backend("tvm", BackendConfig(threads=1, output_shape=(1001,)))
    backend.load(standin)
    try:
        out = backend.predict(batch)
    finally:
        backend.close()
    assert out.dtype == np.int64
    assert out.tolist() == reference[0].tolist()


def _run(tmp_path: Path, images: Path, backend: str) -> list[dict[str, object]]:
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
    records: list[dict[str, object]] = json.loads(proc.stdout)
    return records


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tvm", "pytorch"])
def test_standin_pipeline_end_to_end(tmp_path: Path, images: Path, backend: str) -> None:
    """One Offline accuracy and one short performance test through the CLI."""
    need_backend(backend)
    acc, perf = _run(tmp_path, images, backend)
    for record, mode in ((acc, "accuracy"), (perf, "performance")):
        assert record["status"] == "ok", record.get("error")
        assert record["standin"] is True
        config = record["config"]
        assert isinstance(config, dict)
        assert (config["mode"], config["scenario"], config["backend"]) == (mode, "Offline", backend)
    accuracy = acc["accuracy"]
    assert isinstance(accuracy, dict) and accuracy["total"] == 8
    result = perf["result"]
    assert isinstance(result, dict) and result["valid"] is True
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
