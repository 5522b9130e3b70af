"""DLRM-v2 on Criteo multi-hot: the reader of the reference's files, the sample grouping,
the lossless packing, the stand-in, ROC AUC, and runs through the CLI."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import PerfpilotError, UsageError
from perfpilot.tasks.criteo.dataset import (
    AGGREGATION_QUANTILE,
    LABEL_COLUMN,
    MULTI_HOT_SIZES,
    PACKED_WIDTH,
    CriteoDataset,
    aggregation_offsets,
    file_names,
    make_synthetic_criteo,
    pack_rows,
    unpack_rows,
)
from perfpilot.tasks.criteo.scorer import TRACE_FILE, roc_auc, score_auc
from tests.conftest import need_backend, run_cli

# The first 20 sample sizes of the reference's tools/dist_trace_verification.txt.
REFERENCE_TRACE_SIZES = [200, 200, 200, 200, 500, 700, 200, 100, 100, 500]
REFERENCE_TRACE_SIZES += [300, 200, 100, 300, 100, 300, 700, 300, 200, 100]


@pytest.fixture(scope="module")
def crit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,500 rows in the reference's debug layout (10 LoadGen samples)."""
    return make_synthetic_criteo(tmp_path_factory.mktemp("criteo"), rows=2500, seed=1)


def _read_reference_way(folder: Path, variant: str = "debug") -> tuple[np.ndarray, ...]:
    dense_name, sparse_name, labels_name = file_names(variant)
    with np.load(folder / sparse_name) as npz:
        ids = np.concatenate([npz[f"{k}"] for k in range(len(MULTI_HOT_SIZES))], axis=1)
    return np.load(folder / dense_name), ids, np.load(folder / labels_name).reshape(-1)


def test_aggregation_matches_reference_trace() -> None:
    offsets = aggregation_offsets(10_000)
    sizes = np.diff(offsets)
    assert list(sizes[:20]) == REFERENCE_TRACE_SIZES
    assert offsets[0] == 0 and offsets[-1] == 10_000
    assert set(sizes[:-1]) <= set(AGGREGATION_QUANTILE)
    assert 0 < sizes[-1] <= max(AGGREGATION_QUANTILE)  # the last sample is cut at the end
    # a prefix of the rows gives a prefix of the same grouping
    assert list(aggregation_offsets(1_000)) == [0, 200, 400, 600, 800, 1000]
    # day 23's validation half (178,274,637 rows: the first 89,137,319) gives the
    # submission checker's dlrm-v2 dataset size
    assert len(aggregation_offsets(89_137_319)) - 1 == 330_067


def test_reader_gives_the_files_rows_in_groups(crit: Path) -> None:
    ds = CriteoDataset(crit)
    dense, ids, labels = _read_reference_way(crit)
    assert ds.variant == "debug" and ds.rows == 2500
    assert ds.total_count == len(ds.offsets) - 1 == ds.performance_count
    picked = np.array([3, 0, 3])
    packed = ds.samples(picked)
    assert packed.dtype == object and len(packed) == 3
    for i, part in zip(picked, packed, strict=True):
        start, end = ds.sample_rows(int(i))
        assert part.shape == (end - start, PACKED_WIDTH) and part.dtype == np.int32
        d, s, y = unpack_rows(part)
        assert np.array_equal(d.view(np.int32), dense[start:end].view(np.int32))
        assert np.array_equal(s, ids[start:end]) and s.dtype == np.int64
        assert np.array_equal(y, labels[start:end])
    assert np.array_equal(ds.labels(), labels.astype(np.float32))
    trace = ds.aggregation_trace().splitlines()
    assert trace[0] == "0, 200, 200" and len(trace) == ds.total_count


def test_dataset_size_keeps_first_samples_and_official_names_use_first_half(
    tmp_path: Path,
) -> None:
    folder = make_synthetic_criteo(tmp_path / "full", rows=2001, variant="multihot-criteo")
    ds = CriteoDataset(folder)
    assert ds.variant == "multihot-criteo" and ds.rows == 1001  # ceil(2001 / 2)
    small = CriteoDataset(folder, size=2)
    assert small.total_count == 2 and small.rows == 400
    assert small.sha256() != ds.sha256()
    assert len(small.labels()) == 400


def test_packing_is_lossless_for_large_ids_and_odd_floats() -> None:
    rng = np.random.default_rng(0)
    n = 5
    dense = rng.standard_normal((n, 13)).astype(np.float32)
    dense[0, :4] = [np.nan, -0.0, np.float32(1e-45), np.inf]  # NaN, -0, denormal, inf
    tables = [rng.integers(0, 2**31 - 1, (n, hot), dtype=np.int32) for hot in MULTI_HOT_SIZES]
    tables[0][:, 0] = [16_777_217, 39_999_999, 2**31 - 1, 0, 33_554_433]  # beyond float32's 2^24
    labels = np.array([0, 1, 1, 0, 1], np.int32)
    packed = pack_rows(dense, tables, labels)
    assert packed.shape == (n, PACKED_WIDTH) and packed[:, LABEL_COLUMN].tolist() == labels.tolist()
    d, ids, y = unpack_rows(packed)
    assert np.array_equal(d.view(np.int32), dense.view(np.int32))  # bit for bit
    assert np.array_equal(ids, np.concatenate(tables, axis=1).astype(np.int64))
    assert ids[:, 0].tolist() == [16_777_217, 39_999_999, 2**31 - 1, 0, 33_554_433]
    assert y.tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]


def test_reader_errors(tmp_path: Path, crit: Path) -> None:
    def error(folder: Path) -> str:
        with pytest.raises(UsageError) as info:
            CriteoDataset(folder)
        line = info.value.one_line()
        assert "\n" not in line
        return line

    assert "not found" in error(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "day_23_dense.npy" in error(tmp_path / "empty")

    def copy(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for f in crit.iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
        return folder

    dense_name, sparse_name, labels_name = file_names("debug")
    missing = copy("missing")
    (missing / labels_name).unlink()
    assert "missing" in error(missing) and labels_name in error(missing)
    broken = copy("broken")
    (broken / dense_name).write_bytes(b"not numpy")
    assert "not a readable .npy" in error(broken)
    short = copy("short")
    np.save(short / labels_name, np.zeros((7, 1), np.int32))
    assert "labels has 7 rows" in error(short)
    wide = copy("wide")
    with np.load(crit / sparse_name) as npz:
        tables = {k: npz[k] for k in npz.files}
    np.savez(wide / sparse_name, **{**tables, "4": np.zeros((2500, 5), np.int32)})
    assert "table 4 has shape [2500, 5]; expected [rows, 6]" in error(wide)
    typed = copy("typed")
    np.savez(typed / sparse_name, **{**tables, "0": tables["0"].astype(np.int64)})
    assert "must be int32" in error(typed)
    lacking = copy("lacking")
    np.savez(lacking / sparse_name, **{k: v for k, v in tables.items() if k != "25"})
    assert "no table '25.npy'" in error(lacking)


def test_compressed_npz_is_read_too(tmp_path: Path, crit: Path) -> None:
    folder = tmp_path / "z"
    folder.mkdir()
    for f in crit.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    sparse_name = file_names("debug")[1]
    with np.load(crit / sparse_name) as npz:
        np.savez_compressed(folder / sparse_name, **{k: npz[k] for k in npz.files})
    with zipfile.ZipFile(folder / sparse_name) as zf:
        assert zf.getinfo("0.npy").compress_type == zipfile.ZIP_DEFLATED
    a, b = CriteoDataset(folder), CriteoDataset(crit)
    assert np.array_equal(a.samples(np.array([1]))[0], b.samples(np.array([1]))[0])


def test_roc_auc_hand_values_and_sklearn() -> None:
    # 4 positive/negative pairs: (0.35 > 0.1), (0.35 < 0.4), (0.8 > both) -> 3 of 4
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5  # a tie counts half
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 5000)
    s = np.round(rng.random(5000) + 0.3 * y, 2).astype(np.float32)  # many ties
    assert roc_auc(y, s) == pytest.approx(sklearn.roc_auc_score(y, s), abs=1e-12)
    with pytest.raises(PerfpilotError, match="undefined"):
        roc_auc(np.zeros(4), np.arange(4.0))


def test_score_auc_reads_pairs_and_dedupes(tmp_path: Path) -> None:
    def record(idx: int, pairs: list[tuple[float, float]]) -> dict[str, object]:
        data = np.asarray(pairs, np.float32).tobytes().hex().upper()
        return {"seq_id": idx, "qsl_idx": idx, "data": data}

    log = tmp_path / "mlperf_log_accuracy.json"
    records = [record(0, [(0.1, 0), (0.4, 0)]), record(1, [(0.35, 1), (0.8, 1)])]
    log.write_text(json.dumps([*records, record(1, [(0.0, 0), (0.0, 0)])]))  # dupe ignored
    result = score_auc(log, np.array([2, 2]))
    assert result.line() == "AUC=75.000%, accuracy=75.000%, good=3, total=4, queries=2"
    assert result.text().splitlines()[-1] == result.line()
    with pytest.raises(PerfpilotError, match="answered 2 rows; it has 3"):
        score_auc(log, np.array([3, 2]))


def test_standin_signature_and_modulo_ids(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    from perfpilot.tasks import get_task
    from perfpilot.tasks.common.validate import check_onnx_model
    from perfpilot.tasks.criteo.standin import TINY, dlrm_onnx_bytes, table_rows

    data = dlrm_onnx_bytes(TINY)
    sess = onnxruntime.InferenceSession(data)
    assert [i.name for i in sess.get_inputs()] == ["dense_features", "sparse_features"]
    rng = np.random.default_rng(0)
    dense = rng.random((6, 13), dtype=np.float32)
    ids = rng.integers(0, 40_000_000, (6, sum(MULTI_HOT_SIZES)))
    (out,) = sess.run(None, {"dense_features": dense, "sparse_features": ids})
    assert out.shape == (6, 1) and ((out > 0) & (out < 1)).all()
    # ids are taken modulo each table's rows: adding a table's size changes nothing
    shifted = ids + np.repeat(np.asarray(table_rows(TINY)), MULTI_HOT_SIZES)
    (again,) = sess.run(None, {"dense_features": dense, "sparse_features": shifted})
    assert np.array_equal(out, again)
    assert len(np.unique(out)) == 6  # the inputs matter
    path = tmp_path / "standin.onnx"
    path.write_bytes(data)
    check_onnx_model(path, get_task("criteo"))  # the signature the criteo task feeds
    _single_input_model(tmp_path / "one.onnx")
    with pytest.raises(UsageError, match="dense_features"):
        check_onnx_model(tmp_path / "one.onnx", get_task("criteo"))
    _two_input_model(tmp_path / "float-ids.onnx")
    with pytest.raises(UsageError, match=r"'sparse_features' is float32 \[N, 214\]; the criteo"):
        check_onnx_model(tmp_path / "float-ids.onnx", get_task("criteo"))


@pytest.mark.slow
def test_dlrm_standin_end_to_end(tmp_path: Path) -> None:
    """CLI: synthetic folder -> reader -> packed samples -> LoadGen -> (prediction, label)
    responses -> AUC. The reported AUC must equal the stand-in's own AUC on the rows."""
    need_backend("onnxruntime")
    import onnxruntime

    from perfpilot.tasks.criteo.standin import ensure_dlrm_standin_tiny

    data = tmp_path / "criteo"
    made = run_cli("dataset", "synthetic-criteo", str(data), "--count", "2400")
    assert made.returncode == 0, made.stderr
    assert "2400 rows (9 LoadGen samples)" in made.stdout
    ws = tmp_path / "ws"
    args = ["--workspace", str(ws), "run", "--model", "dlrm-v2-standin-tiny"]
    result = run_cli(
        *args, "--dataset-path", str(data), "--scenario", "Offline", "--mode", "both",
        "--count", "4", "--batch-size", "3", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in sorted(ws.glob("runs/*/run.json"))]
    acc = next(r for r in records if r["config"]["mode"] == "accuracy")
    assert acc["status"] == "ok" and acc["accuracy"]["metric"] == "AUC"
    assert acc["accuracy"]["total"] == 2400 and acc["accuracy"]["target"] is None  # stand-in
    run_dir = Path(acc["run_dir"])
    line = (run_dir / "accuracy.txt").read_text().splitlines()[-1]
    assert line.startswith("AUC=") and line.endswith("total=2400, queries=9")
    # the same model on the same rows, straight through onnxruntime
    dense, ids, labels = _read_reference_way(data)
    sess = onnxruntime.InferenceSession(str(ensure_dlrm_standin_tiny()))
    (scores,) = sess.run(None, {"dense_features": dense, "sparse_features": ids.astype(np.int64)})
    expected = 100.0 * roc_auc(labels, scores.reshape(-1))
    assert line.startswith(f"AUC={expected:.3f}%")
    trace = (run_dir / TRACE_FILE).read_text().splitlines()
    assert trace[:2] == ["0, 200, 200", "200, 400, 200"] and len(trace) == 9
    perf = next(r for r in records if r["config"]["mode"] == "performance")
    assert perf["status"] == "ok" and perf["result"]["valid"] is True


def test_dlrm_v2_without_model_path_or_with_wrong_model(tmp_path: Path, crit: Path) -> None:
    need_backend("onnxruntime")
    result = run_cli("run", "--model", "dlrm-v2-99", "--dataset-path", str(crit))
    assert result.returncode == 2, result.stderr
    assert "--model-path" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    wrong = tmp_path / "one-input.onnx"
    _single_input_model(wrong)
    result = run_cli(
        "run", "--model", "dlrm-v2-99", "--model-path", str(wrong), "--dataset-path", str(crit)
    )
    assert result.returncode == 2 and "dense_features" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_cli(
        "run", "--model", "dlrm-v2-standin-tiny", "--dataset-path", str(tmp_path / "nowhere")
    )
    assert result.returncode == 2 and "dataset folder not found" in result.stderr


def _single_input_model(path: Path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=1)],
        "one-input",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 13])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    path.write_bytes(model.SerializeToString())


def _two_input_model(path: Path) -> None:
    """The right input names, but the ids as float32 (which would round ids > 2^24)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["dense_features"], ["a"], keepdims=1),
            helper.make_node("ReduceSum", ["sparse_features"], ["b"], keepdims=1),
            helper.make_node("Add", ["a", "b"], ["y"]),
        ],
        "float-ids",
        [
            helper.make_tensor_value_info("dense_features", TensorProto.FLOAT, ["N", 13]),
            helper.make_tensor_value_info("sparse_features", TensorProto.FLOAT, ["N", 214]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    path.write_bytes(model.SerializeToString())
