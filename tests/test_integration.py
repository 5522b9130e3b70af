"""Real LoadGen, real onnxruntime, the built-in model: each test in its own process."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from perfpilot.config import build_run_configs
from perfpilot.engine.runner import run_benchmark
from perfpilot.results.db import index_record
from perfpilot.workspace import Workspace

pytestmark = pytest.mark.slow

V61_SEEDS = {
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}


@pytest.fixture(scope="module")
def all_scenarios(tmp_path_factory: pytest.TempPathFactory, digits_model: Path):  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path_factory.mktemp("ws-all"), on_record=index_record)
    return ws, run_benchmark(build_run_configs("all", "both"), ws, ["pytest"])


#: INVALID reasons that only a latency spike causes (a busy 2-core machine can pause the
#: harness for tens of milliseconds, against digits' 10 ms Server bound).
LATENCY_ONLY = {
    "early stopping not met",
    "latency constraint not met",
    "Reduce target QPS to improve latency. ",
}


def _retry_latency_spike(ws: Workspace, records: list) -> list:  # type: ignore[type-arg]
    """Re-run a Server performance test once when latency alone made it INVALID: the
    harness is judged on the retry, which must then be VALID."""
    out = []
    for r in records:
        if (
            r.scenario == "Server"
            and r.mode == "performance"
            and r.status == "ok"
            and not r.ok
            and r.result is not None
            and set(r.result.invalid_reasons) <= LATENCY_ONLY
        ):
            (r,) = run_benchmark(build_run_configs("Server", "performance"), ws, ["pytest"])
        out.append(r)
    return out


def test_every_scenario_is_valid_and_accurate(all_scenarios) -> None:  # type: ignore[no-untyped-def]
    ws, records = all_scenarios
    records = _retry_latency_spike(ws, records)
    assert [(r.scenario, r.mode) for r in records] == [
        (s, m)
        for s in ("Offline", "Server", "SingleStream", "MultiStream")
        for m in ("accuracy", "performance")
    ]
    for r in records:
        assert r.status == "ok", r.error
        assert r.ok, (r.scenario, r.mode, r.result and r.result.invalid_reasons)
        if r.mode == "accuracy":
            assert r.accuracy is not None and r.accuracy.value >= 97.0
            assert r.accuracy.total == 360
            text = (Path(r.run_dir) / "accuracy.txt").read_text()
            assert text.startswith(f"accuracy={r.accuracy.value:.3f}%, good=")
        else:
            assert r.result is not None and r.result.valid is True
            assert r.result.seeds == V61_SEEDS
            assert r.result.metric is not None and r.result.metric > 0
            assert r.result.errors == []
    units = {r.scenario: r.result.metric_unit for r in records if r.mode == "performance"}
    assert units == {
        "Offline": "samples/s",
        "Server": "samples/s",
        "SingleStream": "ms",
        "MultiStream": "ms",
    }


def test_run_directories_and_records_are_complete(all_scenarios) -> None:  # type: ignore[no-untyped-def]
    ws, records = all_scenarios
    assert len({r.run_dir for r in records}) == len(records)  # a fresh directory each
    for r in records:
        run_dir = Path(r.run_dir)
        data = json.loads((run_dir / "run.json").read_text())
        for key in (
            "schema_version",
            "run_id",
            "started",
            "finished",
            "command",
            "config",
            "provenance",
            "model",
            "dataset",
            "result",
            "loadgen_settings",
        ):
            assert data[key] is not None, key
        assert data["config"]["backend_threads"] >= 1  # resolved, not left to chance
        sw, system = data["provenance"]["software"], data["provenance"]["system"]
        assert sw["mlcommons-loadgen"] and sw["backend"] and sw["perfpilot"]
        assert system["cpu_count"] >= 1 and system["memory_bytes"] > 0 and system["cpu_model"]
        assert len(data["model"]["sha256"]) == 64 and len(data["dataset"]["sha256"]) == 64
        conf = (run_dir / "user.conf").read_text()
        assert f"digits-cnn.{r.scenario}." in conf
        assert not (run_dir / "mlperf_log_trace.json").exists()  # trace off by default
        assert not (run_dir / "audit.config").exists()
        # every run tells the progress display how long it should take: an accuracy pass
        # over the whole dataset too (at the warm-up pace when nothing was calibrated)
        expected = json.loads((run_dir / "progress.json").read_text())["expected_s"]
        assert 0 < expected < 600, (r.scenario, r.mode, expected)
        # the collector's pauses during the test
        gc = data["gc"]
        assert len(gc["collections"]) == 3
        assert all(n >= 0 for n in gc["collections"]) and 0 <= gc["max_ms"] <= gc["total_ms"]
    assert [x.run_id for x in ws.records()] == [r.run_id for r in records]


def test_user_conf_values_reach_loadgen(all_scenarios) -> None:  # type: ignore[no-untyped-def]
    _, records = all_scenarios
    # Server issues even an accuracy run on a schedule: it must get a calibrated target
    # rather than mlperf.conf's 1 QPS (which would make 360 samples last 6 minutes).
    server_acc = next(r for r in records if r.scenario == "Server" and r.mode == "accuracy")
    assert server_acc.loadgen_settings is not None
    assert server_acc.loadgen_settings["target_qps"] > 100
    offline = next(r for r in records if r.scenario == "Offline" and r.mode == "performance")
    assert offline.loadgen_settings is not None and offline.result is not None
    assert offline.result.effective["target_qps"] == pytest.approx(
        offline.loadgen_settings["target_qps"], rel=1e-5
    )
    assert offline.result.effective["min_duration_ms"] == 1000


def test_null_backend_measures_the_harness(workspace: Workspace) -> None:
    records = run_benchmark(build_run_configs("Offline", "performance", backend="null"), workspace)
    (r,) = records
    assert r.ok and r.model.sha256 is None
    assert r.result is not None and r.result.metric is not None and r.result.metric > 50_000


def _fixed_batch_model(path: Path, digits_model: Path) -> Path:
    """A digits model that only accepts batches of exactly 32 (Reshape to [32, 64]):
    it loads and warms up, then fails on the Offline run's last, shorter batch."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([32, 64], dtype=np.int64), "shape")
    w = numpy_helper.from_array(np.zeros((10, 64), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["input", "shape"], ["flat"]),
            helper.make_node("Gemm", ["flat", "w"], ["logits"], transB=1),
        ],
        "fixed-batch",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=[shape, w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_backend_failure_during_loadgen_is_recorded(
    workspace: Workspace, tmp_path: Path, digits_model: Path
) -> None:
    model = _fixed_batch_model(tmp_path / "fixed.onnx", digits_model)
    (r,) = run_benchmark(build_run_configs("Offline", "accuracy", model_path=model), workspace)
    assert r.status == "failed"
    assert r.error is not None and "Reshape" in r.error
    assert r.model.substituted is True
    run_dir = Path(r.run_dir)
    assert (run_dir / "run.json").exists() and (run_dir / "child.log").exists()
    assert (run_dir / "mlperf_log_detail.txt").exists()  # LoadGen's logs are kept


def test_killed_child_is_a_failed_run(workspace: Workspace) -> None:
    killed = threading.Event()

    def kill_child(label: str, elapsed: float, expected: float | None, live: object) -> None:
        if killed.is_set() or elapsed < 0.5:
            return
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode()
            except (OSError, ValueError):
                continue
            if "perfpilot.engine.child" in cmdline and str(workspace.root) in cmdline:
                os.kill(int(proc.name), signal.SIGKILL)
                killed.set()

    cfgs = build_run_configs("Server", "performance", min_duration_ms=5000)
    (r,) = run_benchmark(cfgs, workspace, progress=kill_child)
    assert killed.is_set()
    assert r.status == "failed"
    assert r.error is not None and "signal 9" in r.error


def test_resnet50_standin_pipeline_end_to_end(tmp_path: Path) -> None:
    """Synthetic ImageNet folder -> reference preprocessing -> stand-in -> LoadGen -> top-1."""
    pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")
    from perfpilot.tasks.imagenet.dataset import make_synthetic_imagenet

    folder = make_synthetic_imagenet(tmp_path / "imagenet", count=24, seed=7)
    ws = Workspace(tmp_path / "ws", on_record=index_record)
    cfgs = build_run_configs(
        "Offline", "both", model="resnet50-standin", dataset_path=folder, dataset_size=16
    )
    acc, perf = run_benchmark(cfgs, ws)
    assert acc.status == "ok" and perf.status == "ok", (acc.error, perf.error)
    assert acc.standin and perf.standin
    assert acc.accuracy is not None and acc.accuracy.total == 16
    assert acc.accuracy.target is None and acc.ok  # a stand-in's accuracy is not judged
    assert acc.dataset.substituted and acc.dataset.path == str(folder)
    assert perf.result is not None and perf.result.valid is True
    conf = (Path(perf.run_dir) / "user.conf").read_text()
    assert "resnet50.Offline.target_qps" in conf  # LoadGen's resnet50 rules apply
    # Response = ArgMax:0 - 1, the reference's offset for the 1001-class ONNX model.
    import onnxruntime as ort

    from perfpilot.tasks.imagenet.dataset import ImagenetDataset

    session = ort.InferenceSession(acc.model.path, providers=["CPUExecutionProvider"])
    data = ImagenetDataset(folder, size=16)
    (argmax,) = session.run(["ArgMax:0"], {"input_tensor:0": data.samples(np.arange(16))})
    records = json.loads((Path(acc.run_dir) / "mlperf_log_accuracy.json").read_text())
    answered = {
        r["qsl_idx"]: int(np.frombuffer(bytes.fromhex(r["data"]), np.int32)[0]) for r in records
    }
    assert answered == {i: int(argmax[i]) - 1 for i in range(16)}


def test_gc_pauses_counts_and_times_collections() -> None:
    import gc

    from perfpilot.engine.child import GcPauses

    with GcPauses() as pauses:
        gc.collect()  # one full collection, on demand
        gc.collect(0)
    outside = gc.callbacks[:]
    d = pauses.as_dict()
    assert d["collections"][2] >= 1 and d["collections"][0] >= 1
    assert 0 < d["max_ms"] <= d["total_ms"]
    assert pauses._callback not in outside  # removed again: nothing measured after the test


def _children_of(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if proc.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(proc.name))
    return found


def test_ctrl_c_as_the_run_directory_appears_is_recorded(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race CI met: Ctrl-C lands between the run directory's creation and the child's
    start. The run still gets its run.json and no child is left running."""
    made: list[Path] = []
    new_run_dir = Workspace.new_run_dir

    def new_run_dir_then_ctrl_c(self: Workspace, scenario: str, mode: str) -> tuple[str, Path]:
        run_id, path = new_run_dir(self, scenario, mode)
        made.append(path)
        os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt at once here
        return run_id, path

    monkeypatch.setattr(Workspace, "new_run_dir", new_run_dir_then_ctrl_c)
    before = set(_children_of(os.getpid()))
    # A suite started with SIGINT ignored (a background job) would never see the Ctrl-C.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(build_run_configs("Offline", "performance"), workspace, ["pytest"])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    (run_dir,) = made
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert set(_children_of(os.getpid())) <= before  # the child was stopped and reaped


def test_ctrl_c_while_scoring_is_recorded(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perfpilot.engine import runner

    def interrupted_scorer(log: Path, dataset: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "resolve", lambda target: interrupted_scorer)  # the task's scorer
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(build_run_configs("Offline", "accuracy"), workspace, ["pytest"])
    (run_dir,) = workspace.runs_dir.iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted" and record["accuracy"] is None
    assert record["loadgen_settings"]["scenario"] == "Offline"  # what the child reported is kept
    assert (run_dir / "mlperf_log_accuracy.json").exists()
