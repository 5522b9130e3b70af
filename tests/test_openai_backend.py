"""The openai backend against a real OpenAI-compatible server: ``transformers serve`` on
the Llama stand-in, started here on 127.0.0.1 (text prompts: it takes strings only)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from perfpilot.tasks.cnndm.dataset import make_synthetic_cnndm
from tests.conftest import loadgen_running, run_cli

TOKENS = 6  # per answer: short, the stand-in serves on two busy cores


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str  # the API base, .../v1
    model: Path  # the stand-in folder: the served name and the tokenizer
    proc: subprocess.Popen[bytes]


def _start_server(model: Path, log: Path) -> Server:
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("transformers serve is not installed (pip install 'transformers[serving]')")
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [exe, "serve", str(model), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    deadline = time.monotonic() + 300  # a bound against a hang: it starts in ~10 s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"transformers serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return Server(f"http://127.0.0.1:{port}/v1", model, proc)
        except OSError:
            time.sleep(0.5)
    _stop(proc)
    pytest.fail(f"transformers serve did not answer /health: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=60)


@pytest.fixture(scope="module")
def standin() -> Path:
    from perfpilot.tasks.cnndm.standin import ensure_llama_standin

    return ensure_llama_standin()


@pytest.fixture(scope="module")
def server(standin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = _start_server(standin, tmp_path_factory.mktemp("serve") / "serve.log")
    yield started
    _stop(started.proc)


@pytest.fixture(scope="module")
def cnndm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cnndm")
    make_synthetic_cnndm(folder, count=8, seed=5)
    return folder


def _args(server: Server, cnndm: Path, *more: str) -> list[str]:
    return [
        "run", "--model", "llama3.1-8b-standin", "--backend", "openai",
        "--endpoint", server.url, "--model-path", str(server.model),
        "--dataset-path", str(cnndm), "--dataset-size", "4", "--batch-size", "1",
        "--backend-option", "prompt_mode=text",
        "--backend-option", f"max_new_tokens={TOKENS}", *more,
    ]  # fmt: skip


def _one_record(out: subprocess.CompletedProcess[str]) -> dict:  # type: ignore[type-arg]
    # exit 1: the run finished INVALID (a short run on a busy machine may)
    assert out.returncode in (0, 1), out.stderr
    (record,) = json.loads(out.stdout)
    assert record["status"] == "ok", record["error"]
    return record  # type: ignore[no-any-return]


@pytest.mark.slow
def test_offline_reports_tokens_per_second(tmp_path: Path, server: Server, cnndm: Path) -> None:
    out = run_cli(
        "--workspace", str(tmp_path), *_args(server, cnndm),
        "--scenario", "Offline", "--mode", "performance", "--target-qps", "2", "--json",
    )  # fmt: skip
    record = _one_record(out)
    res = record["result"]
    assert res["metric_unit"] == "tokens/s" and res["metric"] > 0
    # the server's count of tokens: at most max_new_tokens per answer
    assert res["metric"] <= TOKENS * res["samples_per_second"] * 1.01
    assert record["config"]["backend_options"]["endpoint"] == server.url


@pytest.mark.slow
def test_server_reports_ttft_and_tpot(tmp_path: Path, server: Server, cnndm: Path) -> None:
    out = run_cli(
        "--workspace", str(tmp_path), *_args(server, cnndm),
        "--scenario", "Server", "--mode", "performance", "--target-qps", "1",
        "--count", "4", "--json",
    )  # fmt: skip
    res = _one_record(out)["result"]
    assert res["metric_unit"] == "tokens/s" and res["sample_count"] >= 4
    assert res["ttft_ns"]["p99"] > 0 and res["tpot_ns"]["p99"] > 0
    assert res["errors"] == []  # every answer had its first token before its end


@pytest.mark.slow
def test_accuracy_mode_logs_the_answers_token_ids(
    tmp_path: Path, server: Server, cnndm: Path
) -> None:
    out = run_cli(
        "--workspace", str(tmp_path), *_args(server, cnndm),
        "--scenario", "Offline", "--mode", "accuracy", "--json",
    )  # fmt: skip
    record = _one_record(out)
    # cnndm's ROUGE script read the answers with the --model-path tokenizer
    assert record["accuracy"]["total"] == 4 and record["accuracy"]["target"] is None
    logged = json.loads((Path(record["run_dir"]) / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in logged) == [0, 1, 2, 3]
    for entry in logged:
        ids = np.frombuffer(bytes.fromhex(entry["data"]), dtype=np.int32)
        assert 1 <= entry["token_count"] <= TOKENS and len(ids) >= 1
        assert np.all((ids >= 0) & (ids < 2048))  # the stand-in's vocabulary


@pytest.mark.parametrize(
    ("more", "expected"),
    [
        (("--endpoint", "http://127.0.0.1:{closed}/v1"), "no OpenAI-compatible server answers"),
        # refused by the first request, or named against GET /models where the server
        # lists its models (transformers serve does in some set-ups)
        (("--backend-option", "served_model=another-model"), "'another-model'"),
        (("--backend-option", "prompt_mode=text"), "needs the model's tokenizer for text"),
    ],
    ids=["unreachable", "wrong-model", "no-tokenizer"],
)
def test_bad_setups_are_one_line_with_exit_code_2(
    tmp_path: Path, server: Server, cnndm: Path, more: tuple[str, ...], expected: str
) -> None:
    args = _args(server, cnndm, "--mode", "performance")
    args += [m.format(closed=_free_port()) for m in more]
    if "prompt_mode=text" in more:  # no --model-path: no tokenizer to decode prompts with
        i = args.index("--model-path")
        del args[i : i + 2]
    out = run_cli("--workspace", str(tmp_path), *args)
    assert out.returncode == 2, out.stderr
    assert expected in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--model", "digits-cnn"), "runs generative models only"),
        (
            ("--endpoint", "http://a:1/v1", "--backend-option", "endpoint=http://b:1/v1"),
            "--endpoint http://a:1/v1 and --backend-option endpoint=http://b:1/v1 disagree",
        ),
        (("--endpoint", "host:8000"), "must be an http:// or https:// URL"),
    ],
    ids=["not-generative", "two-endpoints", "not-a-url"],
)
def test_options_checked_before_any_request(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    out = run_cli("--workspace", str(tmp_path), "run", "--backend", "openai", *args)
    assert out.returncode == 2 and expected in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_server_that_dies_mid_run_fails_the_run_promptly(
    tmp_path: Path, standin: Path, cnndm: Path
) -> None:
    doomed = _start_server(standin, tmp_path / "serve.log")
    ws = tmp_path / "ws"
    try:
        # Far more samples than the server can answer before it is killed.
        proc = subprocess.Popen(
            [sys.executable, "-m", "perfpilot", "--workspace", str(ws),
             *_args(doomed, cnndm), "--scenario", "Offline", "--mode", "performance",
             "--target-qps", "1000", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        # progress.json names the child's phase: the test, once LoadGen has started
        deadline = time.monotonic() + 300
        while not loadgen_running(ws.glob("runs/*/progress.json")) and proc.poll() is None:
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.2)
    finally:
        _stop(doomed.proc)
    stdout, stderr = proc.communicate(timeout=180)  # a hang fails here
    assert proc.returncode == 1, stderr
    (record,) = json.loads(stdout)
    assert record["status"] == "failed"
    error = record["error"]
    assert " samples failed at " in error and "; the first: " in error, error
    failed, submitted = (int(n) for n in error.split(" samples failed")[0].split(" of "))
    assert 1 <= failed <= submitted
