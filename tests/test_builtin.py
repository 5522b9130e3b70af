import hashlib
import json
from pathlib import Path

import numpy as np

from perfpilot.tasks.common.classification import score_top1
from perfpilot.tasks.digits import model as digits
from perfpilot.tasks.digits.dataset import DigitsDataset
from perfpilot.tasks.digits.model import ensure_digits_cnn, model_dir


def test_split_is_fixed_disjoint_and_complete() -> None:
    hold, train = digits.load_split("holdout"), digits.load_split("train")
    assert len(hold.labels) == 360 and len(train.labels) == 1437
    from sklearn.datasets import load_digits

    everything = load_digits()
    np.testing.assert_array_equal(hold.images, everything.images[::5].astype(np.uint8))
    assert np.bincount(hold.labels, minlength=10).min() >= 20  # every class well present


def test_preprocessing_scales_to_unit_range_nchw() -> None:
    x = digits.preprocess(np.array([[[0, 16] * 4] * 8], dtype=np.uint8))
    assert x.shape == (1, 1, 8, 8) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0


def test_dataset_identity_is_stable() -> None:
    a, b = DigitsDataset(), DigitsDataset()
    assert a.sha256() == b.sha256()
    assert a.total_count == 360
    assert a.samples(np.array([3, 1])).shape == (2, 1, 8, 8)


def test_model_is_cached_with_its_hash(digits_model: Path) -> None:
    manifest = json.loads((digits_model.parent / "manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(digits_model.read_bytes()).hexdigest()
    assert manifest["schema_version"] == 1
    assert ensure_digits_cnn(log=False) == digits_model  # second use: no rebuild


def test_corrupted_cache_is_rebuilt_not_reused(digits_model: Path) -> None:
    good = digits_model.read_bytes()
    digits_model.write_bytes(good[:1000])
    rebuilt = ensure_digits_cnn(log=False)
    assert rebuilt.read_bytes() == good  # deterministic training: the same bytes again
    assert model_dir() == rebuilt.parent


def test_onnx_export_matches_numpy_and_reaches_target(digits_model: Path) -> None:
    import onnxruntime as ort

    data = DigitsDataset()
    session = ort.InferenceSession(str(digits_model), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": data.samples(np.arange(360))})[0]
    accuracy = (logits.argmax(1) == data.labels()).mean() * 100
    assert accuracy >= 97.0


def test_top1_script_official_format(tmp_path: Path) -> None:
    labels = np.array([3, 1, 4])
    records = [
        {"seq_id": 0, "qsl_idx": 0, "data": np.int32(3).tobytes().hex().upper()},
        {"seq_id": 1, "qsl_idx": 1, "data": np.int32(7).tobytes().hex().upper()},
        {"seq_id": 2, "qsl_idx": 2, "data": np.int32(4).tobytes().hex().upper()},
        {"seq_id": 3, "qsl_idx": 0, "data": np.int32(9).tobytes().hex().upper()},  # duplicate
    ]
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(json.dumps(records))
    result = score_top1(log, labels)
    assert (result.good, result.total) == (2, 3)
    assert result.line() == "accuracy=66.667%, good=2, total=3"
