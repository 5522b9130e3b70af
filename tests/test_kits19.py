"""3D-UNet on KiTS19: the reference's preprocessed folder, sliding-window inference,
mean composite DICE, and the whole pipeline through the CLI."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import UsageError
from perfpilot.tasks.kits19.adapter import (
    argmax_classes,
    gaussian_importance,
    segment_volume,
    sliding_window_scores,
    window_starts,
)
from perfpilot.tasks.kits19.dataset import INDEX_FILE, Kits19Dataset, make_synthetic_kits19
from perfpilot.tasks.kits19.scorer import dice_scores, score_kits
from tests.conftest import need_backend, run_cli

MEANS = np.array([-1.0, 1.0, 2.0], dtype=np.float32)  # the synthetic cases' class intensities


@pytest.fixture(scope="module")
def kits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_kits19(tmp_path_factory.mktemp("kits") / "data", count=2, seed=3)


def _oracle_scores(patch: np.ndarray) -> np.ndarray:
    """Scores that make the argmax the class whose intensity is nearest: a per-voxel
    model, so every patch agrees wherever patches overlap."""
    return -((patch - MEANS.reshape(1, 3, 1, 1, 1)) ** 2)


def _write_log(path: Path, answers: list[tuple[int, np.ndarray]]) -> Path:
    records = [
        {"seq_id": n, "qsl_idx": i, "data": np.ascontiguousarray(a, np.uint8).tobytes().hex()}
        for n, (i, a) in enumerate(answers)
    ]
    path.write_text(json.dumps(records))
    return path


# -- the preprocessed folder -----------------------------------------------------------------


def test_synthetic_folder_has_the_reference_layout(kits_dir: Path) -> None:
    with open(kits_dir / INDEX_FILE, "rb") as f:
        index = pickle.load(f)
    assert index["file_list"] == ["case_00000", "case_00001"]
    for case in index["file_list"]:
        aux = index["cases"][case]
        assert aux["case"] == case and aux["reshaped_affine"].shape == (4, 4)
        with open(kits_dir / f"{case}.pkl", "rb") as f:
            image, label = pickle.load(f)
        assert image.dtype == np.float32 and label.dtype == np.uint8
        assert image.shape == label.shape == tuple(aux["image_shape"])
        assert image.shape[0] == 1 and set(image.shape[1:]) <= {128, 192}
        assert max(image.shape) == 192  # more than one patch
        assert set(np.unique(label)) == {0, 1, 2}
        assert image[0, 0, 0, 0] == pytest.approx(-2.2)  # the reference's padding value


def test_reader_loads_cases_lazily_in_qsl_order(kits_dir: Path) -> None:
    ds = Kits19Dataset(kits_dir)
    assert (ds.total_count, ds.performance_count) == (2, 2)
    assert not ds._live  # building the dataset read only the index
    batch = ds.samples(np.array([1, 0, 1]))
    assert batch.dtype == object and len(batch) == 3
    assert [v.shape for v in batch] == [ds.shapes[1], ds.shapes[0], ds.shapes[1]]
    assert batch[0] is batch[2]  # a case asked twice is read once while held
    with open(kits_dir / "case_00001.pkl", "rb") as f:
        image, label = pickle.load(f)
    np.testing.assert_array_equal(batch[0], image)
    np.testing.assert_array_equal(ds.label(1), label)
    assert Kits19Dataset(kits_dir, size=1).total_count == 1
    assert Kits19Dataset(kits_dir).sha256() == ds.sha256()


def test_reader_errors(tmp_path: Path, kits_dir: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        Kits19Dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"has no preprocessed_files\.pkl"):
        Kits19Dataset(tmp_path / "empty")

    bad = make_synthetic_kits19(tmp_path / "bad", count=1, seed=1)
    (bad / INDEX_FILE).write_bytes(pickle.dumps({"cases": {}}))
    with pytest.raises(UsageError, match="file_list"):
        Kits19Dataset(bad)
    index = {
        "file_list": ["case_00000"],
        "cases": {"case_00000": {"image_shape": (1, 130, 128, 128)}},
    }
    (bad / INDEX_FILE).write_bytes(pickle.dumps(index))
    with pytest.raises(UsageError, match="not 128 \\+ a multiple of 64"):
        Kits19Dataset(bad)
    index = {
        "file_list": ["case_00009"],
        "cases": {"case_00009": {"image_shape": (1, 128, 128, 128)}},
    }
    (bad / INDEX_FILE).write_bytes(pickle.dumps(index))
    with pytest.raises(UsageError, match=r"case_00009\.pkl"):
        Kits19Dataset(bad)

    class Foreign:  # a pickle naming code outside numpy must not be loaded
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("ran",))

    (bad / INDEX_FILE).write_bytes(pickle.dumps({"file_list": Foreign()}))
    with pytest.raises(UsageError, match=r"refusing to load builtins\.print"):
        Kits19Dataset(bad)


# -- sliding window --------------------------------------------------------------------------


def test_gaussian_importance_is_the_reference_kernel() -> None:
    w = gaussian_importance(128)
    assert w.shape == (128, 128, 128) and w.dtype == np.float32
    assert w.max() == pytest.approx(1.0) and w[63, 64, 63] == pytest.approx(1.0)
    # corner: cube root of g(0)^3 over the peak's, with g(n) = exp(-(n - 63.5)^2 / (2 * 16^2))
    g = lambda n: math.exp(-0.5 * ((n - 63.5) / 16.0) ** 2)  # noqa: E731
    assert w[0, 0, 0] == pytest.approx(g(0) / g(63), rel=1e-6)
    assert w[0, 63, 127] == pytest.approx((g(0) * g(63) * g(127)) ** (1 / 3) / g(63), rel=1e-6)
    signal = pytest.importorskip("scipy.signal")
    g1 = signal.windows.gaussian(128, 0.125 * 128)
    ref = np.cbrt(np.outer(np.outer(g1, g1), g1).reshape(128, 128, 128))
    np.testing.assert_allclose(w, (ref / ref.max()).astype(np.float32), rtol=1e-6)


def test_window_starts_follow_the_reference_order() -> None:
    starts = list(window_starts((128, 192, 256)))
    assert starts == [(0, 0, 0), (0, 0, 64), (0, 0, 128), (0, 64, 0), (0, 64, 64), (0, 64, 128)]
    with pytest.raises(ValueError, match="not covered"):
        sliding_window_scores(np.zeros((1, 128, 128, 160), np.float32), _oracle_scores)


def test_sliding_window_with_a_per_voxel_model_returns_the_labels() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(128, 192, 192)).astype(np.uint8)
    volume = (MEANS[labels] + rng.uniform(-0.3, 0.3, labels.shape)).astype(np.float32)
    seen: list[tuple[int, ...]] = []

    def predict(patch: np.ndarray) -> np.ndarray:
        seen.append(patch.shape)
        return _oracle_scores(patch)

    out = segment_volume(volume[np.newaxis], predict)
    assert seen == [(1, 1, 128, 128, 128)] * 4
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, labels)


def test_sliding_window_weights_overlapping_patches() -> None:
    """Each patch answers its own constant; where two patches overlap, a voxel gets the
    Gaussian-weighted mean of the two constants."""
    values = iter([10.0, 20.0])

    def predict(patch: np.ndarray) -> np.ndarray:
        return np.full((1, 3, 128, 128, 128), next(values), np.float32)

    scores = sliding_window_scores(np.zeros((1, 128, 128, 192), np.float32), predict)
    w = gaussian_importance(128)
    assert scores[0, 5, 7, 10] == pytest.approx(10.0)  # only the first patch covers it
    assert scores[2, 5, 7, 180] == pytest.approx(20.0)  # only the second
    z, y, x = 40, 90, 100  # in both: local x is 100 in the first, 36 in the second
    a, b = float(w[z, y, x]), float(w[z, y, x - 64])
    assert scores[1, z, y, x] == pytest.approx((10 * a + 20 * b) / (a + b), rel=1e-6)


# -- DICE ------------------------------------------------------------------------------------


def test_dice_by_hand() -> None:
    truth = np.zeros((2, 3, 4), np.uint8)
    pred = np.zeros_like(truth)
    truth[0, 0, :4] = 1  # 4 kidney voxels
    truth[1, 2, :2] = 2  # 2 tumour voxels
    pred[0, 0, 1:4] = 1  # 3 kidney voxels, all right
    pred[1, 0, 0] = 1  # 1 wrong kidney voxel
    kidney, tumour = dice_scores(pred, truth)
    assert kidney == pytest.approx((2 * 3 + 1e-6) / (4 + 4 + 1e-6), rel=1e-12)
    assert tumour == pytest.approx(1e-6 / (2 + 1e-6), rel=1e-9)  # tumour missed
    assert dice_scores(np.zeros(5, np.uint8), np.zeros(5, np.uint8)) == (1.0, 1.0)


def test_score_matches_counts_and_writes_the_reference_line(kits_dir: Path, tmp_path: Path) -> None:
    ds = Kits19Dataset(kits_dir)
    truth = [ds.label(i)[0] for i in range(2)]
    merged = np.where(truth[1] == 2, 1, truth[1]).astype(np.uint8)  # tumour called kidney
    log = _write_log(tmp_path / "log.json", [(1, merged), (0, truth[0]), (0, merged[:0])])
    result = score_kits(log, ds, tmp_path / "summary.csv")
    kid, tum = int((truth[1] == 1).sum()), int((truth[1] == 2).sum())
    kidney1 = (2 * kid + 1e-6) / (2 * kid + tum + 1e-6)
    tumour1 = 1e-6 / (tum + 1e-6)
    assert result.kidney == pytest.approx((1.0 + kidney1) / 2)
    assert result.tumor == pytest.approx((1.0 + tumour1) / 2)
    assert result.mean == pytest.approx((1.0 + (kidney1 + tumour1) / 2) / 2)
    assert result.accuracy == pytest.approx(100 * result.mean)
    assert result.line() == (
        f"Accuracy: mean = {result.mean:.5f}, kidney = {result.kidney:.4f}, "
        f"tumor = {result.tumor:.4f}"
    )
    rows = (tmp_path / "summary.csv").read_text().splitlines()
    assert rows[0] == "case,kidney,tumor,composite" and rows[1].startswith("case_00000,1.0,1.0,")
    assert rows[-1].startswith("mean,") and len(rows) == 4

    with pytest.raises(UsageError, match="no prediction for 1 of 2 cases"):
        score_kits(_write_log(tmp_path / "one.json", [(0, truth[0])]), ds)
    short = [(0, truth[0]), (1, truth[1][:, :, :64])]
    with pytest.raises(UsageError, match="needs"):
        score_kits(_write_log(tmp_path / "short.json", short), ds)


# -- models and the whole pipeline -----------------------------------------------------------


def _oracle_onnx(path: Path) -> Path:
    """A per-voxel ONNX model with the official signature: -(x - mean_c)^2 per class."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = ["batch_size", 1, 128, 128, 128]
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["input", "means"], ["d"]),
            helper.make_node("Mul", ["d", "d"], ["d2"]),
            helper.make_node("Neg", ["d2"], ["output"]),
        ],
        "oracle",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [
            helper.make_tensor_value_info(
                "output", TensorProto.FLOAT, ["batch_size", 3, 128, 128, 128]
            )
        ],
        initializer=[numpy_helper.from_array(MEANS.reshape(1, 3, 1, 1, 1), "means")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_standin_has_the_official_signature() -> None:
    need_backend("onnxruntime")
    import onnxruntime as ort

    from perfpilot.tasks import get_task
    from perfpilot.tasks.common.validate import check_onnx_model
    from perfpilot.tasks.kits19.standin import ensure_unet_standin_tiny

    path = ensure_unet_standin_tiny()
    check_onnx_model(path, get_task("kits19"))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    out = session.run(["output"], {"input": np.zeros((2, 1, 128, 128, 128), np.float32)})[0]
    assert out.shape == (2, 3, 128, 128, 128)


def test_pipeline_end_to_end_through_the_cli(tmp_path: Path) -> None:
    """synthetic-kits19 -> LoadGen (one uint8 volume per case) -> DICE. The per-voxel
    model is right everywhere, so DICE is 1 only if bytes, order and shapes all agree.
    SingleStream accuracy with it, then an Offline performance run of the stand-in."""
    need_backend("onnxruntime")
    data = tmp_path / "kits"
    made = run_cli("dataset", "synthetic-kits19", str(data), "--count", "2", "--seed", "5")
    assert made.returncode == 0, made.stderr
    ws = tmp_path / "ws"
    common = ["--workspace", str(ws), "run", "--dataset-path", str(data), "--batch-size", "1"]
    oracle = run_cli(
        *common,
        "--model",
        "3d-unet-99",
        "--model-path",
        str(_oracle_onnx(tmp_path / "oracle.onnx")),
        "--scenario",
        "SingleStream",
        "--mode",
        "accuracy",
        "--json",
    )
    assert oracle.returncode == 0, oracle.stderr
    acc = json.loads(oracle.stdout)[0]
    assert acc["accuracy"]["metric"] == "DICE" and acc["accuracy"]["value"] == 100.0
    assert acc["accuracy"]["passed"] is True and acc["accuracy"]["target"] == 85.3083
    run_dir = Path(acc["run_dir"])
    text = (run_dir / "accuracy.txt").read_text()
    assert text.strip() == "Accuracy: mean = 1.00000, kidney = 1.0000, tumor = 1.0000"
    assert (run_dir / "summary.csv").read_text().splitlines()[-1] == "mean,1.0,1.0,1.0"
    logged = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    shapes = Kits19Dataset(data).shapes
    assert sorted(len(r["data"]) // 2 for r in logged) == sorted(math.prod(s) for s in shapes)

    standin = run_cli(*common, "--model", "3d-unet-standin-tiny", "--mode", "performance", "--json")
    assert standin.returncode == 0, standin.stderr
    perf = json.loads(standin.stdout)[0]
    assert perf["status"] == "ok" and perf["result"]["valid"] is True and perf["standin"] is True
    assert perf["loadgen_settings"]["scenario"] == "Offline"


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, kits_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli(
        "run", "--model", "3d-unet-standin-tiny", "--dataset-path", str(tmp_path / "empty")
    )
    assert result.returncode == 2
    assert "preprocessed_files.pkl" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    server = run_cli(
        "run", "--model", "3d-unet-99", "--dataset-path", str(kits_dir), "--scenario", "Server"
    )
    assert server.returncode == 2
    assert "no Server scenario" in server.stderr and "Offline or SingleStream" in server.stderr


def test_argmax_classes_is_numpys_argmax() -> None:
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 3, size=(3, 6, 7, 8)).astype(np.float32)  # many ties
    expected = np.argmax(scores, axis=0).astype(np.uint8)
    np.testing.assert_array_equal(argmax_classes(scores), expected)
    scores[1, 0, 0, 0] = np.nan
    assert argmax_classes(scores)[0, 0, 0] == 1  # numpy: the first NaN wins
