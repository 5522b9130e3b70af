"""OpenImages/RetinaNet: reference preprocessing and post-processing, the dataset folder, and
COCO mAP through pycocotools on synthetic annotations with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import UsageError
from perfpilot.tasks.openimages.dataset import (
    ANNOTATIONS,
    IMAGES,
    OpenImagesDataset,
    make_synthetic_openimages,
    postprocess_retinanet,
    preprocess_retinanet,
)
from perfpilot.tasks.openimages.scorer import score_map
from tests.conftest import run_cli

cv2 = pytest.importorskip("cv2")
pytest.importorskip("pycocotools")


@pytest.fixture(scope="module")
def oi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_openimages(tmp_path_factory.mktemp("oi") / "openimages", count=6)


def test_preprocess_matches_reference_formula() -> None:
    bgr = np.zeros((50, 70, 3), dtype=np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 10, 20, 30  # B, G, R
    out = preprocess_retinanet(bgr)
    assert out.shape == (3, 800, 800) and out.dtype == np.float32
    # RGB order, /255, a constant image stays constant through INTER_LINEAR.
    np.testing.assert_allclose(out[:, 400, 400], [30 / 255, 20 / 255, 10 / 255], rtol=1e-6)
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    expected = cv2.resize(
        cv2.cvtColor(img.astype(np.float32), cv2.COLOR_BGR2RGB),
        (800, 800),
        interpolation=cv2.INTER_LINEAR,
    ).transpose(2, 0, 1) / np.float32(255)
    np.testing.assert_allclose(preprocess_retinanet(img), expected, rtol=1e-6)
    grey = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    g = preprocess_retinanet(grey)
    assert g.shape == (3, 800, 800)
    np.testing.assert_array_equal(g[0], g[1])


def test_postprocess_scales_reorders_and_stops_at_threshold() -> None:
    boxes = np.array([[80, 160, 400, 800], [0, 0, 8, 8], [1, 1, 2, 2]], dtype=np.float32)
    scores = np.array([0.9, 0.06, 0.04], dtype=np.float32)
    labels = np.array([5, 7, 9], dtype=np.int64)
    out = postprocess_retinanet(3, boxes, labels, scores).reshape(-1, 7)
    assert out.shape == (2, 7)  # the 0.04 detection is cut
    np.testing.assert_allclose(out[0], [3, 0.2, 0.1, 1.0, 0.5, 0.9, 5], rtol=1e-6)
    assert out[1, 6] == 7
    assert postprocess_retinanet(0, boxes[:0], labels[:0], scores[:0]).size == 0


def _log(path: Path, rows_per_image: list[list[list[float]]]) -> Path:
    records = [
        {
            "seq_id": i,
            "qsl_idx": i,
            "data": np.asarray(rows, np.float32).reshape(-1).tobytes().hex(),
        }
        for i, rows in enumerate(rows_per_image)
    ]
    path.write_text(json.dumps(records))
    return path


def _truth_rows(annotations: dict, shift: float = 0.0, label_offset: int = 0) -> list:
    per_image = []
    for idx, image in enumerate(annotations["images"]):
        h, w = image["height"], image["width"]
        rows = []
        for a in annotations["annotations"]:
            if a["image_id"] != image["id"]:
                continue
            x, y, bw, bh = a["bbox"]
            x += shift * bw
            rows.append(
                [
                    idx,
                    y / h,
                    x / w,
                    (y + bh) / h,
                    (x + bw) / w,
                    0.9,
                    a["category_id"] + label_offset,
                ]
            )
        per_image.append(rows)
    return per_image


def test_map_known_answers(oi_dir: Path, tmp_path: Path) -> None:
    ann_path = oi_dir / ANNOTATIONS
    annotations = json.loads(ann_path.read_text())
    perfect = score_map(_log(tmp_path / "a.json", _truth_rows(annotations)), ann_path)
    assert perfect.map_percent == pytest.approx(100.0, abs=1e-6)
    assert perfect.line() == "mAP=100.000%" and "Average Precision" in perfect.text()
    assert perfect.images == len(annotations["images"]) and perfect.mismatched == 0
    shifted = score_map(_log(tmp_path / "b.json", _truth_rows(annotations, 0.3)), ann_path)
    assert 0.0 < shifted.map_percent < 100.0
    wrong = score_map(_log(tmp_path / "c.json", _truth_rows(annotations, 0, 1)), ann_path)
    assert wrong.map_percent == 0.0
    # An image seen with no detections counts against the mAP (the reference adds it too).
    rows = _truth_rows(annotations)
    rows[0] = []
    missing = score_map(_log(tmp_path / "d.json", rows), ann_path)
    assert missing.map_percent < 100.0


def test_map_rejects_bad_payload(oi_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"qsl_idx": 0, "data": np.zeros(5, np.float32).tobytes().hex()}]))
    with pytest.raises(UsageError, match="groups of 7"):
        score_map(bad, oi_dir / ANNOTATIONS)


def test_dataset_reads_and_caches(oi_dir: Path) -> None:
    ds = OpenImagesDataset(oi_dir, size=4)
    assert ds.total_count == 4 and ds.performance_count == 4
    first = ds.samples(np.array([0, 3]))
    assert first.shape == (2, 3, 800, 800)
    img = cv2.imread(str(oi_dir / IMAGES / ds.images[3]["file_name"]))
    np.testing.assert_allclose(first[1], preprocess_retinanet(img), rtol=1e-6)
    again = OpenImagesDataset(oi_dir, size=4)
    assert again.sha256() == ds.sha256() and (again.cache_path() / "meta.json").exists()
    assert list(ds.labels()) == [1, 2, 3, 4]


def test_dataset_errors(tmp_path: Path, oi_dir: Path) -> None:
    with pytest.raises(UsageError, match="has no annotations"):
        OpenImagesDataset(tmp_path)
    broken = make_synthetic_openimages(tmp_path / "broken", count=2)
    first = json.loads((broken / ANNOTATIONS).read_text())["images"][0]["file_name"]
    (broken / IMAGES / first).unlink()
    with pytest.raises(UsageError, match="not found"):
        OpenImagesDataset(broken)
    (broken / ANNOTATIONS).write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        OpenImagesDataset(broken)


def _centred_set(folder: Path, count: int = 4) -> Path:
    """Images whose one ground-truth box is always the centre half (category 7)."""
    images, annotations = [], []
    (folder / IMAGES).mkdir(parents=True)
    (folder / ANNOTATIONS).parent.mkdir(parents=True)
    for i in range(count):
        h, w = 300 + 40 * i, 500 - 30 * i
        img = np.full((h, w, 3), 40, np.uint8)
        img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = (30 * i, 200, 90)
        name = f"img{i}.jpg"
        cv2.imwrite(str(folder / IMAGES / name), img)
        images.append({"id": 100 + i, "file_name": name, "height": h, "width": w})
        box = [w / 4, h / 4, w / 2, h / 2]
        annotations.append(
            {
                "id": i + 1,
                "image_id": 100 + i,
                "category_id": 7,
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": 0,
            }
        )
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": f"c{c}"} for c in range(1, 11)],
    }
    (folder / ANNOTATIONS).write_text(json.dumps(doc))
    return folder


def _centre_detector(path: Path) -> Path:
    """A batch-1 ONNX detector with the official output names and order (boxes, scores,
    labels) that always finds the centre half of the 800 x 800 input as category 7, plus a
    low-scoring detection that post-processing must cut. Its scores depend on the input."""
    from onnx import TensorProto, helper

    boxes = helper.make_tensor("b", TensorProto.FLOAT, [2, 4], [200, 200, 600, 600, 0, 0, 50, 50])
    bias = helper.make_tensor("bias", TensorProto.FLOAT, [2], [8.0, -6.0])
    labels = helper.make_tensor("l", TensorProto.INT64, [2], [7, 3])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["m0"]),
        helper.make_node("Add", ["m0", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["scores"]),
        helper.make_node("Identity", ["b"], ["boxes"]),
        helper.make_node("Identity", ["l"], ["labels"]),
    ]
    graph = helper.make_graph(
        nodes,
        "centre-detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 800, 800])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [2, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [2]),
        ],
        [boxes, bias, labels, zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.slow
def test_retinanet_pipeline_end_to_end(tmp_path: Path) -> None:
    """User detector on the retinanet task: dataset -> reference preprocessing -> LoadGen
    (ragged responses) -> accuracy log -> pycocotools. The detector is right on every
    image, so the mAP is 100% only if every coordinate transform is right."""
    data = _centred_set(tmp_path / "oi")
    model = _centre_detector(tmp_path / "det.onnx")
    ws = tmp_path / "ws"
    result = run_cli(
        "--workspace",
        str(ws),
        "run",
        "--model",
        "retinanet",
        "--model-path",
        str(model),
        "--dataset-path",
        str(data),
        "--scenario",
        "Offline",
        "--mode",
        "both",
        "--count",
        "8",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in sorted(ws.glob("runs/*/run.json"))]
    acc = next(r for r in records if r["config"]["mode"] == "accuracy")
    assert acc["accuracy"]["metric"] == "mAP"
    assert acc["accuracy"]["value"] == pytest.approx(100.0, abs=0.01)
    assert acc["accuracy"]["passed"] is True and acc["model"]["substituted"] is True
    text = (Path(acc["run_dir"]) / "accuracy.txt").read_text()
    assert text.strip().endswith("mAP=100.000%") and "Average Precision" in text
    logged = json.loads((Path(acc["run_dir"]) / "mlperf_log_accuracy.json").read_text())
    assert {len(bytes.fromhex(r["data"])) for r in logged} == {7 * 4}  # the 2nd box is cut
    perf = next(r for r in records if r["config"]["mode"] == "performance")
    assert perf["status"] == "ok" and perf["result"]["valid"] is True


def test_retinanet_rejects_non_detector(tmp_path: Path, digits_model: Path) -> None:
    data = _centred_set(tmp_path / "oi", count=1)
    result = run_cli(
        "run",
        "--model",
        "retinanet",
        "--model-path",
        str(digits_model),
        "--dataset-path",
        str(data),
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr
