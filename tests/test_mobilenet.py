"""MobileNet v1 (open division): the reference's ``pre_process_mobilenet`` as an ImageNet
dataset variant, its post-processing (argmax of 1001 scores, minus 1), and a tiny ONNX
model with the official signature run end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")

from perfpilot.errors import UsageError  # noqa: E402
from perfpilot.tasks import get_model, model_task  # noqa: E402
from perfpilot.tasks.imagenet.dataset import (  # noqa: E402
    ImagenetDataset,
    preprocess_mobilenet,
)
from tests.conftest import run_cli  # noqa: E402

INPUT = "input:0"
OUTPUT = "MobilenetV1/Predictions/Reshape_1:0"
CLASSES = 1001


def test_catalog_entry_is_runnable_open_only_with_its_own_preprocessing() -> None:
    spec = get_model("mobilenet")
    assert spec.runnable and spec.open_only and spec.postprocess == "index-1"
    task = model_task(spec)
    assert task.input_shape == (3, 224, 224)  # the zenodo ONNX takes NCHW
    assert dict(task.dataset_options) == {"preprocess": "mobilenet"}


def test_square_256_image_is_cropped_and_scaled_to_minus_one_one() -> None:
    bgr = np.random.default_rng(1).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    out = preprocess_mobilenet(bgr)
    rgb = bgr[16:240, 16:240, ::-1].astype(np.float32)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    np.testing.assert_allclose(out, ((rgb / 255.0 - 0.5) * 2).transpose(2, 0, 1), atol=1e-6)
    assert out.min() >= -1.0 and out.max() <= 1.0


def test_one_image_matches_the_reference_formula() -> None:
    """pre_process_mobilenet, spelled out for a 300 x 400 image: short side to
    int(100 * 224 / 87.5) = 256 bilinearly (400 -> int(256 * 400 / 300) = 341), centre
    crop 224 from (58, 16), RGB, / 255, - 0.5, x 2, CHW."""
    rng = np.random.default_rng(5)
    bgr = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)  # noise: resizes differ
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    resized = cv2.resize(rgb, (341, 256), interpolation=cv2.INTER_LINEAR)
    crop = resized[16:240, 58:282].astype(np.float32)
    expected = ((crop / 255.0 - 0.5) * 2.0).transpose(2, 0, 1)
    np.testing.assert_allclose(preprocess_mobilenet(bgr), expected, rtol=0, atol=1e-6)
    # Bilinear, not the vgg path's INTER_AREA: the two resizes differ on this image.
    area = cv2.resize(rgb, (341, 256), interpolation=cv2.INTER_AREA)[16:240, 58:282]
    assert np.abs(area.astype(np.float32) - crop).mean() > 2  # measured: 4.7 grey levels


def test_dataset_variant_is_cached_apart_from_vgg(images: Path) -> None:
    mobilenet = model_task(get_model("mobilenet")).load_dataset(images, 3)
    assert isinstance(mobilenet, ImagenetDataset) and mobilenet.preprocess == "mobilenet"
    vgg = ImagenetDataset(images, size=3)
    assert mobilenet.cache_path() != vgg.cache_path() and mobilenet.sha256() == vgg.sha256()
    got = mobilenet.samples(np.arange(3))
    assert got.shape == (3, 3, 224, 224) and got.min() >= -1 and got.max() <= 1
    first = preprocess_mobilenet(cv2.imread(str(images / mobilenet.entries[0].name)))
    np.testing.assert_array_equal(got[0], first)
    with pytest.raises(UsageError, match="unknown ImageNet preprocessing 'inception'"):
        ImagenetDataset(images, preprocess="inception")
    with pytest.raises(UsageError, match="unknown ImageNet layout 'CHWN'"):
        ImagenetDataset(images, layout="CHWN")


def _weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return (
        rng.standard_normal((CLASSES, 3)).astype(np.float32) * 20,
        rng.standard_normal(CLASSES).astype(np.float32),
    )


@pytest.fixture(scope="module")
def tiny_mobilenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """input:0 float32 [N, 3, 224, 224] -> global mean -> dense -> softmax, named as the
    official ONNX's output."""
    from onnx import TensorProto, helper, numpy_helper

    from perfpilot.tasks.common.onnx_build import model_bytes

    w, b = _weights()
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", [INPUT], ["pool"]),
            helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "w", "b"], ["logits"], transB=1),
            helper.make_node("Softmax", ["logits"], [OUTPUT], axis=1),
        ],
        "tiny-mobilenet-signature",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", CLASSES])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    path = tmp_path_factory.mktemp("mobilenet") / "mobilenet_v1_1.0_224.onnx"
    path.write_bytes(model_bytes(graph, "perfpilot-test", "1", opset=13))
    return path


@pytest.mark.slow
def test_tiny_mobilenet_runs_end_to_end(tiny_mobilenet: Path, images: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "--workspace", str(tmp_path / "ws"), "run", "--model", "mobilenet",
        "--backend", "onnxruntime", "--model-path", str(tiny_mobilenet),
        "--dataset-path", str(images), "--batch-size", "4", "--min-duration", "1",
        "--count", "8", "--json",
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: below the target
    acc, perf = json.loads(proc.stdout)
    assert acc["status"] == "ok" and perf["status"] == "ok", (acc["error"], perf["error"])
    assert acc["accuracy"]["total"] == 8 and perf["result"]["metric"] > 0
    # The classes answered: argmax of the scores on the mobilenet-preprocessed images - 1.
    x = ImagenetDataset(images, preprocess="mobilenet").samples(np.arange(8))
    w, b = _weights()
    expected = (x.mean(axis=(2, 3), dtype=np.float64) @ w.T.astype(np.float64) + b).argmax(1) - 1
    log = json.loads((Path(acc["run_dir"]) / "mlperf_log_accuracy.json").read_text())
    answered = {
        r["qsl_idx"]: int(np.frombuffer(bytes.fromhex(r["data"]), np.int32)[0]) for r in log
    }
    assert answered == {i: int(expected[i]) for i in range(8)}
    labels = ImagenetDataset(images).labels()
    hits = sum(answered[i] == labels[i] for i in range(8))
    assert acc["accuracy"]["good"] == hits
