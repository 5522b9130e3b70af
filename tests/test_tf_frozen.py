"""TensorFlow frozen graphs (``.pb`` GraphDefs, the format of MLPerf's resnet50_v1.pb and
BERT model.pb) on the tensorflow backend: tiny graphs frozen here with
``convert_variables_to_constants_v2`` carry the official tensor names; the backend's
answers are compared with numpy, and ``resnet50-tf`` / ``bert-99-tensorflow`` run end to
end through the CLI on synthetic data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perfpilot.backends import BackendConfig, create_backend
from perfpilot.errors import ModelFileError
from perfpilot.tasks import get_model, model_task
from tests.conftest import need_backend, run_cli

CLASSES = 1001
SEQ = 384


def _tf() -> Any:
    need_backend("tensorflow")
    from perfpilot.backends.tensorflow.runtime import import_tensorflow

    return import_tensorflow()


def _freeze(module: Any, path: Path) -> Path:
    """Freeze ``module.serve`` (variables -> constants) and write its GraphDef to ``path``."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(module.serve.get_concrete_function())
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return path


# -- a ResNet-like NHWC classifier: 1x1 conv + ReLU, global mean, dense, 1001 classes --


def _resnet_weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "kernel": rng.standard_normal((1, 1, 3, 8)).astype(np.float32) * 0.02,
        "kernel_bias": rng.standard_normal(8).astype(np.float32),
        "dense": rng.standard_normal((8, CLASSES)).astype(np.float32),
        "dense_bias": rng.standard_normal(CLASSES).astype(np.float32) * 0.1,
    }


def _resnet_numpy(w: dict[str, np.ndarray], x_nhwc: np.ndarray) -> np.ndarray:
    """The tiny net's logits, computed directly (float64)."""
    h = x_nhwc.astype(np.float64) @ w["kernel"][0, 0].astype(np.float64) + w["kernel_bias"]
    pooled = np.maximum(h, 0).mean(axis=(1, 2))
    logits: np.ndarray = pooled @ w["dense"].astype(np.float64) + w["dense_bias"]
    return logits


@pytest.fixture(scope="module")
def resnet_pb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """input_tensor:0 float32 [N, 224, 224, 3] -> ArgMax:0 int64 [N], softmax_tensor:0."""
    tf = _tf()
    w = _resnet_weights()

    class Tiny(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.v = {k: tf.Variable(a) for k, a in w.items()}

        @tf.function(  # type: ignore[misc,untyped-decorator]
            input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32, name="input_tensor")]
        )
        def serve(self, x: Any) -> dict[str, Any]:
            h = tf.nn.relu(tf.nn.conv2d(x, self.v["kernel"], 1, "VALID") + self.v["kernel_bias"])
            logits = tf.matmul(tf.reduce_mean(h, [1, 2]), self.v["dense"]) + self.v["dense_bias"]
            return {
                "ArgMax": tf.argmax(logits, 1, name="ArgMax"),
                "softmax": tf.nn.softmax(logits, name="softmax_tensor"),
            }

    return _freeze(Tiny(), tmp_path_factory.mktemp("frozen") / "resnet50_v1.pb")


def _backend(**names: tuple[str, ...]) -> Any:
    return create_backend("tensorflow", BackendConfig(threads=1, output_shape=(1001,)), names)


def test_frozen_graph_runs_with_the_catalog_tensor_names(resnet_pb: Path) -> None:
    spec = get_model("resnet50-tf")
    assert spec.runnable and spec.output_names == ("ArgMax:0",)
    assert model_task(spec).input_shape == (224, 224, 3)  # NHWC, as the graph takes it
    x = np.random.default_rng(0).normal(0, 60, (3, 224, 224, 3)).astype(np.float32)
    expected = _resnet_numpy(_resnet_weights(), x)
    backend = _backend(input_names=spec.input_names, output_names=spec.output_names)
    backend.load(resnet_pb)
    try:
        got = backend.predict(x)
    finally:
        backend.close()
    assert got.dtype == np.int64 and got.tolist() == expected.argmax(axis=1).tolist()
    # The softmax instead, named without ":0"; any batch size is served.
    backend = _backend(input_names=("input_tensor",), output_names=("softmax_tensor",))
    backend.load(resnet_pb)
    try:
        scores = backend.predict(x[:1])
    finally:
        backend.close()
    e = np.exp(expected[:1] - expected[:1].max())
    np.testing.assert_allclose(scores, e / e.sum(), rtol=1e-4, atol=1e-6)


def test_the_stores_hash_named_copy_loads_as_a_frozen_graph(
    resnet_pb: Path, tmp_path: Path
) -> None:
    """The artifact store keeps files under their SHA-256, without the .pb suffix."""
    copy = tmp_path / "7b94a2da05dd30f6c0af23a46bc08886"
    copy.write_bytes(resnet_pb.read_bytes())
    spec = get_model("resnet50-tf")
    backend = _backend(input_names=spec.input_names, output_names=spec.output_names)
    backend.load(copy)
    try:
        x = np.zeros((2, 224, 224, 3), np.float32)
        expected = _resnet_numpy(_resnet_weights(), x).argmax(axis=1)
        assert backend.predict(x).tolist() == expected.tolist()
    finally:
        backend.close()


def test_run_takes_the_cached_pb_and_nhwc_samples(
    resnet_pb: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``perfpilot cache add resnet50_v1.pb --as resnet50-v1.5-tf-fp32`` then a run: the
    file comes from the store (MD5-checked; a made-up file gets its own MD5 in the
    catalog entry here), the samples channels-last."""
    import dataclasses
    import hashlib

    from perfpilot.artifacts import store
    from perfpilot.config.run import RunConfig
    from perfpilot.engine.prepare import prepare
    from perfpilot.tasks import registry

    _tf()
    md5 = hashlib.md5(resnet_pb.read_bytes(), usedforsecurity=False).hexdigest()
    spec = registry.models()["resnet50-tf"]
    monkeypatch.setitem(registry.models(), spec.name, dataclasses.replace(spec, md5=md5))
    monkeypatch.setenv("PERFPILOT_OFFLINE", "1")
    stored = store.add(resnet_pb, spec.artifact or "", md5=md5)
    cfg = RunConfig(model="resnet50-tf", backend="tensorflow", dataset_path=images)
    prepared = prepare(cfg)
    assert prepared.model_file == stored and prepared.task.input_shape == (224, 224, 3)
    x = prepared.dataset.samples(np.arange(2))
    assert x.shape == (2, 224, 224, 3)
    backend = _backend(input_names=spec.input_names, output_names=spec.output_names)
    backend.load(stored)
    try:
        expected = _resnet_numpy(_resnet_weights(), x).argmax(axis=1)
        assert backend.predict(x).tolist() == expected.tolist()
    finally:
        backend.close()


def test_frozen_graph_checks_refuse_what_cannot_run(resnet_pb: Path, tmp_path: Path) -> None:
    from perfpilot.backends.registry import backend_class

    _tf()
    check = backend_class("tensorflow").check_model
    check(resnet_pb, (224, 224, 3), "float32", (1001,))  # fits: no error
    with pytest.raises(ModelFileError, match=r"is float32 \[N, 224, 224, 3\].*feeds float32 "):
        check(resnet_pb, (3, 224, 224), "float32", (1001,))  # NCHW task: refused
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff\xfe this is not a protobuf \x00" * 10)
    with pytest.raises(ModelFileError, match="is not a TensorFlow frozen graph"):
        check(bad, (224, 224, 3), "float32", (1001,))
    empty = tmp_path / "empty.pb"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="holds no graph nodes"):
        check(empty, (224, 224, 3), "float32", (1001,))
    backend = _backend(input_names=("input_tensor:0",), output_names=("Nope:0",))
    with pytest.raises(ModelFileError, match="has no output tensor 'Nope:0'"):
        backend.load(resnet_pb)
    # Without names the graph has two dangling outputs: it says which to choose from.
    with pytest.raises(ModelFileError, match="does not say which tensor is its output"):
        _backend().load(resnet_pb)


def test_bad_pb_through_the_cli_exits_2_with_one_line(tmp_path: Path, images: Path) -> None:
    _tf()
    bad = tmp_path / "resnet50_v1.pb"
    bad.write_bytes(b"\x0a\xff\xff\xff\xff\x0f garbage")
    proc = run_cli(
        "--workspace", str(tmp_path / "ws"), "run", "--model", "resnet50-tf",
        "--backend", "tensorflow", "--model-path", str(bad), "--dataset-path", str(images),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a TensorFlow frozen graph" in lines[0]
    assert "Traceback" not in proc.stderr


def test_nhwc_samples_are_the_nchw_ones_transposed_and_cached_apart(images: Path) -> None:
    from perfpilot.tasks.imagenet.dataset import ImagenetDataset

    nchw = ImagenetDataset(images, size=3)
    nhwc = model_task(get_model("resnet50-tf")).load_dataset(images, 3)
    assert isinstance(nhwc, ImagenetDataset) and nhwc.layout == "NHWC"
    assert nhwc.cache_path() != nchw.cache_path()
    got = nhwc.samples(np.arange(3))
    assert got.shape == (3, 224, 224, 3) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, nchw.samples(np.arange(3)).transpose(0, 2, 3, 1))


@pytest.mark.slow
def test_resnet50_tf_end_to_end_on_a_frozen_graph(
    resnet_pb: Path, images: Path, tmp_path: Path
) -> None:
    """Offline accuracy and a short performance test of `resnet50-tf` through the CLI."""
    proc = run_cli(
        "--workspace", str(tmp_path / "ws"), "run", "--model", "resnet50-tf",
        "--backend", "tensorflow", "--model-path", str(resnet_pb),
        "--dataset-path", str(images), "--batch-size", "4", "--min-duration", "1",
        "--count", "8", "--json",
    )  # fmt: skip
    # Exit 1 only says the (random) graph misses resnet50's accuracy target.
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    acc, perf = json.loads(proc.stdout)
    assert acc["status"] == "ok" and perf["status"] == "ok", (acc["error"], perf["error"])
    assert acc["accuracy"]["total"] == 8 and perf["result"]["metric"] > 0
    from perfpilot.tasks.imagenet.dataset import ImagenetDataset

    x = ImagenetDataset(images, layout="NHWC").samples(np.arange(8))
    expected = _resnet_numpy(_resnet_weights(), x).argmax(axis=1) - 1  # ArgMax:0, offset -1
    log = json.loads((Path(acc["run_dir"]) / "mlperf_log_accuracy.json").read_text())
    answered = {
        r["qsl_idx"]: int(np.frombuffer(bytes.fromhex(r["data"]), np.int32)[0]) for r in log
    }
    assert answered == {i: int(expected[i]) for i in range(8)}


# -- BERT: three int32 [1, 384] placeholders -> logits [1, 384, 2] --


@pytest.fixture(scope="module")
def squad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from perfpilot.tasks.squad.dataset import make_synthetic_squad

    return make_synthetic_squad(tmp_path_factory.mktemp("squad"), articles=1)


def _bert_weights(vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "words": rng.standard_normal((vocab, 4)).astype(np.float32),
        "segments": rng.standard_normal((2, 4)).astype(np.float32),
        "out": rng.standard_normal((4, 2)).astype(np.float32),
    }


def _bert_numpy(w: dict[str, np.ndarray], sample: np.ndarray) -> np.ndarray:
    """Logits [n, 384, 2] for samples [n, 3, 384] (ids, mask, segments)."""
    ids, mask, segments = sample[:, 0], sample[:, 1], sample[:, 2]
    h = w["words"][ids] + w["segments"][segments]
    logits: np.ndarray = h @ w["out"] - 1000.0 * (1 - mask[..., None])
    return logits


def _bert_pb(path: Path, vocab: int, batch: int | None) -> Path:
    tf = _tf()
    w = _bert_weights(vocab)
    names = ("input_ids", "input_mask", "segment_ids")  # the official placeholders, int32
    specs = [tf.TensorSpec([batch, SEQ], tf.int32, name=n) for n in names]

    class TinyQa(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.v = {k: tf.Variable(a) for k, a in w.items()}

        @tf.function(input_signature=specs)  # type: ignore[misc,untyped-decorator]
        def serve(self, ids: Any, mask: Any, segments: Any) -> Any:
            h = tf.gather(self.v["words"], ids) + tf.gather(self.v["segments"], segments)
            masked = 1000.0 * (1.0 - tf.cast(mask, tf.float32))[..., None]
            logits = tf.einsum("bsh,hk->bsk", h, self.v["out"]) - masked
            return tf.reshape(logits, [-1, SEQ, 2], name="logits")

    return _freeze(TinyQa(), path)


def _vocab(squad_dir: Path) -> int:
    return len((squad_dir / "vocab.txt").read_text().splitlines())


@pytest.mark.parametrize("batch", [1, 2])
def test_bert_frozen_graph_is_fed_by_name_in_slices(
    squad_dir: Path, tmp_path: Path, batch: int
) -> None:
    """The official graph fixes batch 1: a batch of 3 goes in slices (batch 2: padded)."""
    from perfpilot.tasks.squad.adapter import NamedInputs
    from perfpilot.tasks.squad.dataset import SquadDataset

    spec = get_model("bert-99-tensorflow")
    assert spec.runnable and spec.output_names == ("logits:0",)
    pb = _bert_pb(tmp_path / "model.pb", _vocab(squad_dir), batch)
    samples = SquadDataset(squad_dir).samples(np.arange(3))
    inner = _backend(input_names=spec.input_names, output_names=spec.output_names)
    backend = NamedInputs(inner, spec.input_names)
    backend.load(pb)
    try:
        got = backend.predict(samples)
    finally:
        backend.close()
    expected = _bert_numpy(_bert_weights(_vocab(squad_dir)), samples)
    assert got.shape[:3] == (3, SEQ, 2)  # [N, 384, 2], the squad post-processing's bytes
    np.testing.assert_allclose(got.reshape(3, SEQ, 2), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_bert_tf_end_to_end_on_synthetic_squad(squad_dir: Path, tmp_path: Path) -> None:
    pb = _bert_pb(tmp_path / "model.pb", _vocab(squad_dir), 1)
    proc = run_cli(
        "--workspace", str(tmp_path / "ws"), "run", "--model", "bert-99-tensorflow",
        "--backend", "tensorflow", "--model-path", str(pb), "--dataset-path", str(squad_dir),
        "--min-duration", "1", "--count", "4", "--json",
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: F1 below the target
    acc, perf = json.loads(proc.stdout)
    assert acc["status"] == "ok" and perf["status"] == "ok", (acc["error"], perf["error"])
    assert acc["accuracy"]["metric"] == "F1" and acc["accuracy"]["target"] is not None
    from perfpilot.tasks.squad.dataset import SquadDataset

    dataset = SquadDataset(squad_dir)
    log = json.loads((Path(acc["run_dir"]) / "mlperf_log_accuracy.json").read_text())
    assert len(log) == dataset.total_count
    w = _bert_weights(_vocab(squad_dir))
    for record in log[:3]:
        got = np.frombuffer(bytes.fromhex(record["data"]), np.float32).reshape(SEQ, 2)
        want = _bert_numpy(w, dataset.samples(np.array([record["qsl_idx"]])))[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
