"""The real ``perfpilot`` command: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import default_sigint, loadgen_running, run_cli


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("perfpilot: error: ")
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--model", "resnet9"], "unknown model 'resnet9'. Did you mean resnet50"),
        (["run", "--backend", "tensorrt"], "unknown backend 'tensorrt'. Choose one of:"),
        (["run", "--device", "tpu"], "unknown value 'tpu' for --device. Choose one of: cpu, cuda"),
        (["run", "--scenario", "Batch"], "unknown value 'Batch' for --scenario"),
        (["run", "--mode", "quick"], "unknown value 'quick' for --mode"),
        (["run", "--batch-size", "0"], "'--batch-size': 0 is not in the range 1<=x<=65536"),
        (
            ["run", "--target-qps", "-5"],
            "'--target-qps': -5.0 is not in the range 0.0<x<=100000000.0",
        ),
        (["run", "--threads", "many"], "'--threads': 'many' is not a valid integer"),
        (["run", "--bogus"], "No such option '--bogus'"),
        (["run", "--device", "cuda"], "onnxruntime here has no CUDA provider"),
        (["run", "--backend", "null", "--device", "cuda"], "does not support device 'cuda'"),
        (["runs", "show", "nope"], "no run 'nope'"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    proc = run_cli("--workspace", str(tmp_path / "ws"), *args)
    assert proc.returncode == 2, proc.stderr
    assert expected in _one_error_line(proc.stderr)
    assert not (tmp_path / "ws" / "runs").exists() or args[0] == "runs"  # nothing started


_TVM = importlib.util.find_spec("tvm") is not None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--backend-option", "fast=1"],
            "unknown backend option 'fast' for backend 'onnxruntime'. "
            "Backend 'onnxruntime' takes no --backend-option",
        ),
        (
            ["--backend-option", "tune_trials"],
            "--backend-option wants KEY=VALUE, not 'tune_trials'",
        ),
        (["--backend-option", "threads=2"], "'threads' is not a backend option"),
        pytest.param(
            ["--backend", "tvm", "--backend-option", "tune_trials=many"],
            "invalid value 'many' for backend option tune_trials: input should be a valid integer",
            marks=pytest.mark.skipif(not _TVM, reason="tvm is not installed"),
        ),
        pytest.param(
            ["--backend", "tvm", "--backend-option", "tune_trails=8"],
            "unknown backend option 'tune_trails' for backend 'tvm'. Backend 'tvm' takes: "
            "tune_trials, tune_batch",
            marks=pytest.mark.skipif(not _TVM, reason="tvm is not installed"),
        ),
    ],
)
def test_bad_backend_option_is_one_line_with_exit_code_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    proc = run_cli("--workspace", str(tmp_path / "ws"), "run", *args)
    assert proc.returncode == 2, proc.stderr
    assert expected in _one_error_line(proc.stderr)
    assert not (tmp_path / "ws" / "runs").exists()  # nothing started


def test_missing_runtime_says_what_to_install(tmp_path: Path) -> None:
    if importlib.util.find_spec("openvino") is not None:
        pytest.skip("openvino is installed here, so it is not missing")
    proc = run_cli("--workspace", str(tmp_path), "run", "--backend", "openvino")
    assert proc.returncode == 2
    assert "Install it with: pip install 'perfpilot[openvino]'" in _one_error_line(proc.stderr)


def test_bad_model_file_is_caught_before_loadgen(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_text("this is not onnx")
    proc = run_cli("--workspace", str(tmp_path / "ws"), "run", "--model-path", str(bad))
    assert proc.returncode == 2
    assert "is not a valid ONNX model" in _one_error_line(proc.stderr)
    assert not (tmp_path / "ws" / "runs").exists()


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    proc = run_cli("--workspace", str(tmp_path), "-v", "run", "--model", "resnet9")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "unknown model 'resnet9'" in proc.stderr


def test_lists_work_without_a_workspace(tmp_path: Path) -> None:
    models = json.loads(run_cli("models", "list", "--json", cwd=tmp_path).stdout)
    assert models[0]["name"] == "digits-cnn" and models[0]["target"] == 97.0
    backends = {b["name"]: b for b in json.loads(run_cli("backends", "list", "--json").stdout)}
    assert backends["onnxruntime"]["installed"] is True
    assert backends["openvino"]["install"] == "pip install 'perfpilot[openvino]'"
    empty = run_cli("--workspace", str(tmp_path / "none"), "runs", "list")
    assert empty.returncode == 0 and "no runs yet" in empty.stdout


@pytest.mark.slow
def test_run_then_list_and_show(tmp_path: Path, digits_model: Path) -> None:
    ws = str(tmp_path / "ws")
    proc = run_cli("--workspace", ws, "run", "--scenario", "SingleStream")
    assert proc.returncode == 0, proc.stderr
    for word in ("SingleStream", "accuracy", "performance", "VALID", "PASS", "p99 ms"):
        assert word in proc.stdout
    assert "(early-stopping p90)" in proc.stdout and "top-1 " in proc.stdout  # named figures
    listed = json.loads(run_cli("--workspace", ws, "runs", "list", "--json").stdout)
    assert [r["config"]["mode"] for r in listed] == ["accuracy", "performance"]
    run_id = listed[1]["run_id"]
    shown = run_cli("--workspace", ws, "runs", "show", run_id[:-2])
    assert shown.returncode == 0 and run_id in shown.stdout and "LoadGen settings" in shown.stdout
    record = json.loads(run_cli("--workspace", ws, "runs", "show", run_id, "--json").stdout)
    assert record["result"]["valid"] is True
    assert record["result"]["metric_unit"] == "ms"


@pytest.mark.slow
def test_json_output_and_env_workspace(tmp_path: Path, digits_model: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PERFPILOT_WORKSPACE": str(tmp_path / "envws")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfpilot",
            "run",
            "--backend",
            "null",
            "--mode",
            "performance",
            "--scenario",
            "MultiStream",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(proc.stdout)
    assert record["result"]["valid"] is True
    assert record["run_dir"].startswith(str(tmp_path / "envws"))


@pytest.mark.slow
def test_failed_run_exits_1_and_a_stray_audit_config_is_ignored(
    tmp_path: Path, digits_model: Path
) -> None:
    from tests.test_integration import _fixed_batch_model

    # A TEST04-style audit.config in the user's folder must not change the run.
    (tmp_path / "audit.config").write_text("*.*.mode = 2\n*.*.performance_issue_same = 1\n")
    model = _fixed_batch_model(tmp_path / "fixed.onnx", digits_model)
    proc = run_cli(
        "--workspace", "ws", "run", "--model-path", str(model), "--mode", "accuracy", cwd=tmp_path
    )
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "Reshape" in proc.stdout
    ok = run_cli(
        "--workspace",
        "ws",
        "run",
        "--backend",
        "null",
        "--mode",
        "performance",
        "--json",
        cwd=tmp_path,
    )
    (record,) = json.loads(ok.stdout)
    assert record["result"]["effective"]["performance_issue_same"] is False
    assert record["result"]["effective"]["test_mode"] == "PerformanceOnly"


@pytest.mark.slow
def test_interrupt_stops_the_child_and_records_the_run(tmp_path: Path, digits_model: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    ws = tmp_path / "ws"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "perfpilot",
            "--workspace",
            str(ws),
            "run",
            "--backend",
            "null",
            "--scenario",
            "Server",
            "--mode",
            "performance",
            "--min-duration",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 60
    while not loadgen_running(ws.glob("runs/*/progress.json")):  # the child has started LoadGen
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == (
        "perfpilot: error: interrupted (a test in progress was stopped and recorded as interrupted)"
    )
    (record_path,) = ws.glob("runs/*/run.json")
    record = json.loads(record_path.read_text())
    assert record["status"] == "interrupted"
    cmdlines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
    assert not any(b"perfpilot.engine.child" in c and str(ws).encode() in c for c in cmdlines)


def test_missing_dataset_path_and_synthetic_imagenet(tmp_path: Path) -> None:
    pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")
    proc = run_cli("--workspace", str(tmp_path / "ws"), "run", "--model", "resnet50-standin")
    assert proc.returncode == 2
    assert "needs its dataset folder. Pass --dataset-path DIR" in _one_error_line(proc.stderr)
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli(
        "--workspace",
        str(tmp_path / "ws"),
        "run",
        "--model",
        "resnet50-standin",
        "--dataset-path",
        str(empty),
    )
    assert proc.returncode == 2 and "has no val_map.txt" in _one_error_line(proc.stderr)
    made = run_cli("dataset", "synthetic-imagenet", str(tmp_path / "inet"), "--count", "3")
    assert made.returncode == 0, made.stderr
    assert len((tmp_path / "inet" / "val_map.txt").read_text().splitlines()) == 3


def test_missing_runtime_error_comes_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same message for any backend whose runtime module cannot be imported."""
    from perfpilot.backends import registry
    from perfpilot.errors import MissingExtraError

    entry = registry.BackendEntry(
        name="faraway",
        target="perfpilot_faraway:Backend",
        requires=("perfpilot_faraway_rt",),
        extra="faraway",
        devices=("cpu",),
        description="a runtime that is not installed",
    )
    monkeypatch.setitem(registry.BACKENDS, "faraway", entry)
    with pytest.raises(MissingExtraError) as info:
        registry.get_backend_entry("faraway")
    assert info.value.one_line() == (
        "backend 'faraway' needs perfpilot_faraway_rt, which is not installed. "
        "Install it with: pip install 'perfpilot[faraway]'"
    )
    assert info.value.exit_code == 2


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_model_runs_on_pytorch_and_is_refused_elsewhere(
    tmp_path: Path, digits_model: Path
) -> None:
    torch = pytest.importorskip("torch", reason="needs torch: pip install 'perfpilot[pytorch]'")
    from perfpilot.tasks.digits.torch_net import load_digits_cnn

    net = load_digits_cnn(digits_model)
    assert net is not None
    scripted = tmp_path / "digits.pt"
    torch.jit.save(torch.jit.script(net.eval()), str(scripted))
    ws = str(tmp_path / "ws")
    refused = run_cli("--workspace", ws, "run", "--model-path", str(scripted))
    assert refused.returncode == 2
    assert "backend 'onnxruntime' does not read .pt files" in _one_error_line(refused.stderr)
    proc = run_cli(
        "--workspace",
        ws,
        "run",
        "--backend",
        "pytorch",
        "--model-path",
        str(scripted),
        "--mode",
        "accuracy",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(proc.stdout)
    assert record["accuracy"]["value"] >= 97.0 and record["model"]["substituted"] is True


@pytest.mark.slow
def test_relative_dataset_path_reaches_the_child(tmp_path: Path) -> None:
    pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")
    assert (
        run_cli("dataset", "synthetic-imagenet", "inet", "--count", "4", cwd=tmp_path).returncode
        == 0
    )
    proc = run_cli(
        "--workspace",
        "ws",
        "run",
        "--model",
        "resnet50-standin",
        "--dataset-path",
        "inet",
        "--backend",
        "null",
        "--mode",
        "accuracy",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (record,) = json.loads(proc.stdout)
    assert record["config"]["dataset_path"] == str(tmp_path / "inet")
    assert record["accuracy"]["total"] == 4


def test_official_model_offline_says_how_to_supply_it(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")
    assert (
        run_cli("dataset", "synthetic-imagenet", str(tmp_path / "inet"), "--count", "2").returncode
        == 0
    )
    env = {**os.environ, "PERFPILOT_OFFLINE": "1", "PERFPILOT_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfpilot",
            "--workspace",
            str(tmp_path / "ws"),
            "run",
            "--model",
            "resnet50",
            "--dataset-path",
            str(tmp_path / "inet"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "artifact 'resnet50-v1.5-onnx-fp32-opset11' is not in the cache" in line
    assert "offline mode is on" in line
    assert "perfpilot cache add FILE --as resnet50-v1.5-onnx-fp32-opset11" in line
    assert not (tmp_path / "ws" / "runs").exists()
