"""MLPerf RetinaNet as a PyTorch state dict (retinanet-pytorch) on the pytorch backend.

The official weights cannot be downloaded here, so the tests check the full-size network's
key names and shapes on the meta device (no memory), the pieces of inference against
hand-written expectations and a plain numpy NMS, and run small random networks of the same
layout through the backend and the real CLI on a synthetic OpenImages folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import ModelFileError
from tests.conftest import need_backend, run_cli

torch = pytest.importorskip("torch", reason="the pytorch backend is not installed")

from perfpilot.tasks.openimages import torch_load as L  # noqa: E402
from perfpilot.tasks.openimages import torch_net as R  # noqa: E402
from tests.conftest import TORCH_LOADER  # noqa: E402

#: A small network of the reference's layout: 1-2 bottlenecks a stage, 2 groups, FPN of 8.
SMALL = R.RetinaNetShape(
    stem=4,
    widths=(4, 4, 8, 8),
    outs=(8, 8, 16, 16),
    blocks=(1, 2, 1, 1),
    groups=2,
    fpn=8,
    classes=8,  # 264 makes the class logits 24 M values an image: too slow for a test
)


def _small_state(seed: int = 0, shape: R.RetinaNetShape = SMALL) -> dict[str, torch.Tensor]:
    """Random weights for ``shape``, frozen batch norms with random statistics."""
    torch.manual_seed(seed)
    net = shape.build()
    state = net.state_dict()
    for key, value in state.items():
        if key.endswith(("bn1.weight", "bn2.weight", "bn3.weight", "downsample.1.weight")):
            value.uniform_(0.5, 1.5)
        elif key.endswith("running_var"):
            value.uniform_(0.5, 1.5)
        elif key.endswith(("running_mean", "bn1.bias", "bn2.bias", "bn3.bias")):
            value.normal_(0, 0.1)
    # Random towers give logits in a narrow band; so that a known number of detections
    # passes 0.05 on any image, one (anchor, class) channel stands out: anchor 4 (ratio 1)
    # of class 5, scores around 0.5 that vary with the image.
    state["head.classification_head.cls_logits.bias"].fill_(-8.0)
    state["head.classification_head.cls_logits.bias"][4 * shape.classes + 5] = 0.0
    state["head.classification_head.cls_logits.weight"].normal_(0, 1.0)
    return {k: v.clone() for k, v in state.items()}


# --- the full-size network --------------------------------------------------------------


def test_full_model_keys_shapes_and_parameter_count() -> None:
    with torch.device("meta"):
        net = R.RESNEXT50_SHAPE.build()
    state = net.state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    expected = {
        "backbone.body.conv1.weight": (64, 3, 7, 7),
        "backbone.body.bn1.running_var": (64,),
        "backbone.body.layer1.0.conv1.weight": (128, 64, 1, 1),
        "backbone.body.layer1.0.conv2.weight": (128, 4, 3, 3),  # 32 groups of 4
        "backbone.body.layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "backbone.body.layer2.0.conv2.weight": (256, 8, 3, 3),
        "backbone.body.layer3.5.conv3.weight": (1024, 512, 1, 1),
        "backbone.body.layer4.2.bn3.running_mean": (2048,),
        "backbone.fpn.inner_blocks.0.weight": (256, 512, 1, 1),
        "backbone.fpn.inner_blocks.2.weight": (256, 2048, 1, 1),
        "backbone.fpn.layer_blocks.1.bias": (256,),
        "backbone.fpn.extra_blocks.p6.weight": (256, 256, 3, 3),
        "backbone.fpn.extra_blocks.p7.bias": (256,),
        "head.classification_head.conv.0.weight": (256, 256, 3, 3),
        "head.classification_head.conv.6.bias": (256,),
        "head.classification_head.cls_logits.weight": (9 * 264, 256, 3, 3),
        "head.regression_head.conv.4.weight": (256, 256, 3, 3),
        "head.regression_head.bbox_reg.weight": (9 * 4, 256, 3, 3),
    }
    assert {k: shapes.get(k) for k in expected} == expected
    assert not any(
        k.startswith("backbone.body.fc") or "num_batches_tracked" in k or ".conv.1." in k
        for k in state
    )  # no classifier, frozen batch norm, ReLUs hold no weights
    assert sum(k.startswith("backbone.body.layer") and k.endswith("conv1.weight") for k in state)
    assert len([k for k in state if k.endswith(".conv1.weight")]) == 3 + 4 + 6 + 3 + 1
    params = sum(p.numel() for p in net.parameters())
    bn = sum(b.numel() for b in net.buffers())
    # TorchVision's resnext50_32x4d has 25,028,904 parameters: less its fc (2048 x 1000 +
    # 1000) and its batch norms' weight and bias (buffers here, half the four statistics).
    conv3 = 256 * 256 * 9 + 256
    fpn = sum(c * 256 + 256 for c in (512, 1024, 2048)) + 3 * conv3 + 2 * conv3
    head = 8 * conv3 + (256 * 9 * 2376 + 2376) + (256 * 9 * 36 + 36)
    assert bn == 136_448
    assert params == 25_028_904 - 2_049_000 - bn // 2 + fpn + head == 37_060_652
    assert L.retinanet_shape(state) == R.RESNEXT50_SHAPE
    assert L.is_retinanet(state) and not L.is_retinanet({"conv1.weight": torch.zeros(1)})


def test_catalog_entry_runs_on_the_pytorch_backend() -> None:
    from perfpilot.tasks import get_model

    spec = get_model("retinanet-pytorch")
    assert spec.runnable and spec.format == "pytorch" and spec.task == "openimages"
    assert spec.postprocess == "retinanet" and spec.loadgen_name == "retinanet"
    assert spec.input_names == ("image",)  # the reference profile's input: no ONNX lookup
    assert spec.md5 == "a55f6bec3464f605ce8d686da8ac1533"


# --- anchors, decoding, NMS -----------------------------------------------------------


def test_anchor_sizes_and_cell_anchors() -> None:
    assert R.ANCHOR_SIZES == (
        (32, 40, 50),
        (64, 80, 101),
        (128, 161, 203),
        (256, 322, 406),
        (512, 645, 812),
    )
    # ratio 0.5 (h/w): w = 1.414 s, h = 0.707 s; halves rounded. Then 1, then 2.
    expected = [
        [-23, -11, 23, 11], [-28, -14, 28, 14], [-35, -18, 35, 18],
        [-16, -16, 16, 16], [-20, -20, 20, 20], [-25, -25, 25, 25],
        [-11, -23, 11, 23], [-14, -28, 14, 28], [-18, -35, 18, 35],
    ]  # fmt: skip
    assert R.cell_anchors((32, 40, 50)).tolist() == expected


def test_grid_anchors_are_location_major_with_integer_strides() -> None:
    (level,) = R.grid_anchors((800, 800), [(2, 3)], sizes=((32, 40, 50),))
    assert level.shape == (2 * 3 * 9, 4)
    cell = R.cell_anchors((32, 40, 50))
    # location (y=1, x=2): strides 800 // 2 = 400 and 800 // 3 = 266
    at = level[(1 * 3 + 2) * 9 : (1 * 3 + 3) * 9]
    assert torch.equal(at, cell + torch.tensor([532.0, 400.0, 532.0, 400.0]))
    assert torch.equal(level[:9], cell)


def test_feature_levels_and_anchor_count_at_800() -> None:
    net = SMALL.build().eval()
    with torch.inference_mode():
        feats = net.backbone(torch.zeros(1, 3, 800, 800))
    grids = [tuple(f.shape[-2:]) for f in feats]
    assert grids == [(100, 100), (50, 50), (25, 25), (13, 13), (7, 7)]  # P3-P7
    anchors = R.grid_anchors(R.IMAGE_SIZE, grids)
    assert sum(len(a) for a in anchors) == 9 * (100**2 + 50**2 + 25**2 + 13**2 + 7**2) == 120_087


def test_decode_boxes() -> None:
    anchors = torch.tensor([[0.0, 0.0, 10.0, 20.0]] * 3)
    deltas = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.1, -0.2, math.log(2), 0.0], [0, 0, 10, 0]])
    boxes = R.decode_boxes(deltas, anchors)
    assert boxes[0].tolist() == [0.0, 0.0, 10.0, 20.0]
    # centre (5 + 0.1 * 10, 10 - 0.2 * 20) = (6, 6); width 20, height 20
    assert boxes[1].tolist() == pytest.approx([-4.0, -4.0, 16.0, 16.0])
    # dw clamped at log(1000 / 16): width 10 * 62.5
    assert (boxes[2, 2] - boxes[2, 0]).item() == pytest.approx(625.0)


def _numpy_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """The textbook greedy NMS, one box at a time."""
    order = list(np.argsort(-scores, kind="stable"))
    kept: list[int] = []
    for i in order:
        ok = True
        for j in kept:
            x1, y1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            x2, y2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            area_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            area_j = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            if inter / (area_i + area_j - inter) > threshold:
                ok = False
                break
        if ok:
            kept.append(int(i))
    return kept


def _random_boxes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32), rng.permutation(n).astype(
        np.float32
    ) / n


def test_nms_matches_plain_greedy() -> None:
    for seed in range(3):
        boxes, scores = _random_boxes(300, seed)
        kept = R.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).tolist()
        reference = _numpy_nms(boxes, scores, 0.5)
        assert kept == reference
        assert 20 < len(kept) < 300  # it did suppress, and kept several
    # a chain: B overlaps A and C; A suppresses B, so C survives
    chain = torch.tensor([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], dtype=torch.float32)
    assert R.nms(chain, torch.tensor([0.9, 0.8, 0.7]), 0.3).tolist() == [0, 2]
    assert R.nms(torch.zeros((0, 4)), torch.zeros(0), 0.5).tolist() == []


def test_batched_nms_never_suppresses_across_labels() -> None:
    boxes, scores = _random_boxes(400, 5)
    labels = np.random.default_rng(5).integers(0, 7, 400)
    kept = R.batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels), 0.5
    ).tolist()
    reference: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        reference += [int(members[i]) for i in _numpy_nms(boxes[members], scores[members], 0.5)]
    reference.sort(key=lambda i: -scores[i])
    assert kept == reference
    same = torch.tensor([[0, 0, 10, 10]] * 2, dtype=torch.float32)
    assert R.batched_nms(same, torch.tensor([0.9, 0.8]), torch.tensor([1, 2]), 0.5).tolist() == [
        0,
        1,
    ]


def test_postprocess_matches_the_reference_order_of_operations() -> None:
    """The reference thresholds every sigmoid, then takes the best ``topk`` a level; the
    module takes the best logits first. Same detections, in the same order."""
    gen = torch.Generator().manual_seed(9)
    grids = [(6, 6), (3, 3)]
    anchors = R.grid_anchors((48, 48), grids, sizes=((8, 10, 12), (16, 20, 25)))
    classes = 5
    logits = [torch.randn(len(a), classes, generator=gen) - 2.0 for a in anchors]
    deltas = [0.2 * torch.randn(len(a), 4, generator=gen) for a in anchors]
    boxes, labels, scores = R.postprocess(logits, deltas, anchors, (48, 48), topk=60, detections=40)
    ref_boxes, ref_scores, ref_labels = [], [], []
    for lg, dl, an in zip(logits, deltas, anchors, strict=True):
        sc = torch.sigmoid(lg).flatten()
        keep = sc > 0.05
        sc, idx = sc[keep], torch.where(keep)[0]
        sc, best = sc.topk(min(60, len(idx)))
        idx = idx[best]
        b = R.decode_boxes(dl[idx // classes], an[idx // classes]).clamp(0, 48)
        ref_boxes.append(b)
        ref_scores.append(sc)
        ref_labels.append(idx % classes)
    rb, rs, rl = torch.cat(ref_boxes), torch.cat(ref_scores), torch.cat(ref_labels)
    assert len(rs) == 120  # both levels had more than 60 candidates above 0.05
    kept: list[int] = []
    for label in rl.unique().tolist():
        members = np.flatnonzero(rl.numpy() == label)
        kept += [int(members[i]) for i in _numpy_nms(rb.numpy()[members], rs.numpy()[members], 0.5)]
    kept = sorted(kept, key=lambda i: -float(rs[i]))[:40]
    assert len(kept) == 40 and len(scores) == 40
    torch.testing.assert_close(scores, rs[kept])
    torch.testing.assert_close(boxes, rb[kept])
    assert labels.tolist() == rl[kept].tolist()


# --- the network on images ----------------------------------------------------------------


def test_detections_follow_the_reference_rules() -> None:
    net = R.RetinaNet(SMALL)
    net.load_state_dict(_small_state())
    net.eval()
    images = torch.rand(2, 3, 800, 800, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        found = net.detect(images)
        boxes, labels, scores = net(images[1:])
    # batch 2 and batch 1 run other convolution kernels: equal up to rounding
    torch.testing.assert_close(boxes, found[1][0], atol=1e-2, rtol=1e-4)
    torch.testing.assert_close(scores, found[1][2], atol=1e-5, rtol=1e-4)
    assert 0 < len(scores) <= R.DETECTIONS_PER_IMAGE
    assert bool((scores > R.SCORE_THRESH).all()) and bool((scores[:-1] >= scores[1:]).all())
    assert labels.dtype == torch.int64 and labels.unique().tolist() == [5]
    assert float(boxes.min()) >= 0 and float(boxes.max()) <= 800
    with pytest.raises(ValueError, match="one image"):
        net(images)


def test_state_dict_through_the_backend(tmp_path: Path) -> None:
    from perfpilot.backends import BackendConfig, create_backend

    need_backend("pytorch")
    state = _small_state(seed=3)
    path = tmp_path / "retinanet.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)  # a DDP copy's names
    backend = create_backend(
        "pytorch", BackendConfig(threads=1, output_shape=(-1, 4), loader=TORCH_LOADER)
    )
    backend.check_model(path, (3, 800, 800), "float32", (-1, 4), loader=TORCH_LOADER)
    backend.load(path)
    image = np.random.default_rng(2).random((1, 3, 800, 800), dtype=np.float32)
    boxes, labels, scores = backend.predict_named({"image": image})
    net = R.RetinaNet(SMALL)
    net.load_state_dict(state)
    with torch.inference_mode():
        ref = net.eval()(torch.from_numpy(image))
    assert boxes.shape == (len(scores), 4) and labels.dtype == np.int64 and len(scores) > 0
    np.testing.assert_array_equal(boxes, ref[0].numpy())
    np.testing.assert_array_equal(labels, ref[1].numpy())
    # the wrong task: a detector is not an image classifier
    with pytest.raises(ModelFileError, match="is a detector") as err:
        backend.check_model(path, (3, 224, 224), "float32", (1000,), loader=TORCH_LOADER)
    assert "--model retinanet-pytorch" in err.value.one_line()


def test_files_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    need_backend("pytorch")
    from perfpilot.backends.pytorch.backend import PyTorchBackend

    state = _small_state()
    del state["head.regression_head.bbox_reg.bias"]
    path = tmp_path / "missing.pth"
    torch.save(state, path)
    with pytest.raises(ModelFileError, match=r"missing: head\.regression_head\.bbox_reg\.bias"):
        PyTorchBackend.check_model(path, (3, 800, 800), "float32", (-1, 4), loader=TORCH_LOADER)
    state = _small_state()
    state["head.regression_head.bbox_reg.weight"] = torch.zeros(20, 8, 3, 3)
    torch.save(state, path)
    with pytest.raises(ModelFileError, match="5 anchors a location, not 9"):
        PyTorchBackend.check_model(path, (3, 800, 800), "float32", (-1, 4), loader=TORCH_LOADER)


class _Mkdir:
    """Unpickled by a real pickle, this makes a folder: code the file chose."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.mkdir, (str(self.path),))


def test_pickled_model_and_training_checkpoint_are_read_without_their_code(
    tmp_path: Path,
) -> None:
    """The official .pth is a whole pickled model of the reference's classes; the training
    checkpoint wraps the state dict with the optimizer and argparse's Namespace. Both are
    read with placeholders for every class they name: no code of theirs runs."""
    need_backend("pytorch")
    from perfpilot.backends import BackendConfig, create_backend

    state = _small_state(seed=4)
    net = R.RetinaNet(SMALL)
    net.load_state_dict(state)
    net.eval()
    pickled = tmp_path / "resnext50_32x4d_fpn.pth"
    torch.save(net, pickled)  # a whole module, as the official file
    assert b"openimages.torch_net" in __import__("zipfile").ZipFile(pickled).read(
        "resnext50_32x4d_fpn/data.pkl"
    )  # the pickle names the module's classes
    found = L.read_pickled_retinanet(pickled)
    assert found is not None and set(found) == set(state)
    assert all(torch.equal(found[k], v) for k, v in state.items())
    backend = create_backend(
        "pytorch", BackendConfig(threads=1, output_shape=(-1, 4), loader=TORCH_LOADER)
    )
    backend.check_model(pickled, (3, 800, 800), "float32", (-1, 4), loader=TORCH_LOADER)
    backend.load(pickled)
    legacy = tmp_path / "legacy.pth"  # torch < 1.6's format
    torch.save(net, legacy, _use_new_zipfile_serialization=False)
    found = L.read_pickled_retinanet(legacy)
    assert found is not None and all(torch.equal(found[k], v) for k, v in state.items())

    import argparse

    marker = tmp_path / "ran"
    checkpoint = tmp_path / "retinanet_model_10.pth"
    torch.save(
        {
            "model": state,
            "optimizer": {"state": {}, "param_groups": []},
            "args": argparse.Namespace(backbone="resnext50_32x4d"),
            "epoch": 10,
            "trap": _Mkdir(marker),
        },
        checkpoint,
    )
    found = L.read_pickled_retinanet(checkpoint)
    assert found is not None and set(found) == set(state) and not marker.exists()
    assert L.read_pickled_retinanet(tmp_path / "missing.pth") is None
    torch.save({"model": {"conv1.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    assert L.read_pickled_retinanet(tmp_path / "other.pth") is None  # not a RetinaNet


# --- the CLI ------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_accuracy_and_performance_on_synthetic_openimages(tmp_path: Path) -> None:
    need_backend("pytorch")
    pytest.importorskip("cv2")
    pytest.importorskip("pycocotools")
    from perfpilot.tasks.openimages.dataset import make_synthetic_openimages

    data = make_synthetic_openimages(tmp_path / "oi", count=4)
    model = tmp_path / "retinanet.pth"
    torch.save(_small_state(), model)
    result = run_cli(
        "run", "--model", "retinanet-pytorch", "--backend", "pytorch", "--model-path",
        str(model), "--dataset-path", str(data), "--scenario", "Offline", "--mode", "both",
        "--count", "4", "--backend-threads", "1", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    # Exit 1: random weights miss the mAP target.
    assert result.returncode in (0, 1), result.stderr
    runs = sorted((tmp_path / "perfpilot-workspace" / "runs").iterdir())
    records = {
        r["config"]["mode"]: r for r in (json.loads((d / "run.json").read_text()) for d in runs)
    }
    assert records["performance"]["status"] == "ok", records["performance"]["error"]
    perf = records["performance"]["result"]
    # A busy machine can make the run INVALID (too short for its estimate): not asserted.
    assert perf["metric_name"] == "result_samples_per_second" and perf["metric"] > 0
    assert perf["sample_count"] >= 4
    accuracy = records["accuracy"]["accuracy"]
    assert accuracy["metric"] == "mAP" and 0.0 <= accuracy["value"] <= 100.0
    log = json.loads(
        (Path(records["accuracy"]["run_dir"]) / "mlperf_log_accuracy.json").read_text()
    )
    rows = [np.frombuffer(bytes.fromhex(e["data"]), np.float32).reshape(-1, 7) for e in log]
    assert len(rows) == 4 and sum(len(r) for r in rows) > 0
    every = np.concatenate(rows)
    assert (every[:, 5] >= 0.05).all() and (every[:, 1:5] >= 0).all() and (every[:, 1:5] <= 1).all()


def test_cli_refuses_a_bad_file(tmp_path: Path) -> None:
    need_backend("pytorch")
    pytest.importorskip("cv2")
    from perfpilot.tasks.openimages.dataset import make_synthetic_openimages

    data = make_synthetic_openimages(tmp_path / "oi", count=1)
    bad = tmp_path / "bad.pth"
    state = _small_state()
    state["backbone.fpn.inner_blocks.0.weight"] = torch.zeros(8, 3, 1, 1)
    torch.save(state, bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file at all")
    for path, why in ((bad, "its FPN takes [3, 16, 16] channels"), (junk, "not a file torch")):
        result = run_cli(
            "run", "--model", "retinanet-pytorch", "--backend", "pytorch", "--model-path",
            str(path), "--dataset-path", str(data), "--mode", "accuracy",
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        (line,) = [line for line in result.stderr.splitlines() if line.strip()]
        assert line.startswith("perfpilot: error:") and str(path) in line and why in line


def test_another_backends_file_is_refused_with_the_entry_to_use(tmp_path: Path) -> None:
    need_backend("onnxruntime")
    onnx_file = tmp_path / "retinanet.onnx"
    onnx_file.write_bytes(b"")  # refused before the file is read
    result = run_cli(
        "run", "--model", "retinanet-pytorch", "--backend", "onnxruntime", "--model-path",
        str(onnx_file), "--mode", "accuracy",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("perfpilot: error:") and "pytorch file" in line
    assert "--model retinanet," in line and not (tmp_path / "perfpilot-workspace").exists()
