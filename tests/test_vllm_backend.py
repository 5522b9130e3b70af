"""The vllm backend: in-process vLLM on an NVIDIA GPU. Here (no GPU, no vLLM) it says so
in one line; on a GPU machine with ``perfpilot[vllm]`` the stand-in runs every token
scenario (marked ``gpu``)."""

import importlib.util
import json
from pathlib import Path

import pytest

from perfpilot.tasks.cnndm.dataset import make_synthetic_cnndm
from tests.conftest import run_cli

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.skipif(HAVE_VLLM and _cuda(), reason="this machine can run vLLM")
def test_without_vllm_or_a_gpu_the_backend_says_so_in_one_line(tmp_path: Path) -> None:
    make_synthetic_cnndm(tmp_path / "cnn", count=2)
    for device in ("cpu", "cuda"):
        out = run_cli("--workspace", str(tmp_path / "ws"), "run", "--model",
                      "llama3.1-8b-standin", "--backend", "vllm", "--device", device,
                      "--dataset-path", str(tmp_path / "cnn"))  # fmt: skip
        assert out.returncode == 2, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
        assert "vllm" in out.stderr.lower()


@pytest.mark.gpu
@pytest.mark.skipif(not (HAVE_VLLM and _cuda()), reason="needs vLLM and an NVIDIA GPU")
def test_the_standin_on_vllm_reports_tokens(tmp_path: Path) -> None:
    make_synthetic_cnndm(tmp_path / "cnn", count=16)
    out = run_cli(
        "--workspace", str(tmp_path / "ws"), "run", "--model", "llama3.1-8b-standin",
        "--backend", "vllm", "--device", "cuda", "--dataset-path", str(tmp_path / "cnn"),
        "--scenario", "all", "--count", "16", "--backend-option", "max_new_tokens=16",
        "--backend-option", "gpu_memory_utilization=0.3", "--json", timeout=1800,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr
    records = json.loads(out.stdout)
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]
    perf = {
        r["config"]["scenario"]: r["result"]
        for r in records
        if r["config"]["mode"] == "performance"
    }
    assert perf["Offline"]["metric_unit"] == "tokens/s" and perf["Offline"]["metric"] > 0
    assert perf["Server"]["ttft_ns"]["p99"] > 0
