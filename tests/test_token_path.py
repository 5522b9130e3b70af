"""LoadGen's token path (TTFT, TPOT, tokens/s) and the Interactive scenario, through the
null backend on a synthetic CNN-DailyMail folder: the harness alone, no model."""

import json
from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import UsageError
from perfpilot.tasks import get_task
from perfpilot.tasks.cnndm.dataset import make_synthetic_cnndm
from tests.conftest import run_cli

MODEL = ("--model", "llama3.1-8b-standin", "--backend", "null")


@pytest.fixture(scope="module")
def cnndm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cnndm")
    make_synthetic_cnndm(folder, count=48, seed=3)
    return folder


def test_synthetic_file_has_the_reference_layout(cnndm: Path) -> None:
    records = json.loads((cnndm / "cnn_eval.json").read_text())
    assert len(records) == 48
    assert {"instruction", "input", "tok_input", "output"} <= set(records[0])
    dataset = get_task("cnndm").load_dataset(cnndm, 10)
    prompts = dataset.samples(np.arange(3))
    assert dataset.total_count == 10 and prompts[0].dtype == np.int32
    assert list(prompts[1]) == records[1]["tok_input"]


def test_a_file_in_another_layout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cnn_eval.json").write_text(json.dumps([{"input": "text", "output": "x"}]))
    with pytest.raises(UsageError, match="record 0 has no 'tok_input'"):
        get_task("cnndm").load_dataset(tmp_path)


def _run(ws: Path, cnndm: Path, *args: str, valid: bool = True) -> list[dict]:  # type: ignore[type-arg]
    out = run_cli(
        "--workspace", str(ws), "run", *MODEL, "--dataset-path", str(cnndm),
        "--mode", "performance", "--json", *args,
    )  # fmt: skip
    # exit 1: the run finished INVALID (a busy machine may miss a latency bound)
    assert out.returncode == 0 or (not valid and out.returncode == 1), out.stderr
    records: list[dict] = json.loads(out.stdout)  # type: ignore[type-arg]
    return records


@pytest.mark.slow
def test_offline_reports_tokens_per_second(tmp_path: Path, cnndm: Path) -> None:
    (rec,) = _run(tmp_path, cnndm, "--scenario", "Offline", "--backend-option", "output_tokens=5")
    res = rec["result"]
    assert res["valid"] and res["metric_unit"] == "tokens/s"
    # every answer has 5 tokens: LoadGen's tokens/s is 5 x its samples/s
    assert res["metric"] == pytest.approx(5 * res["samples_per_second"], rel=0.02)
    assert res["ttft_ns"] == {} and rec["config"]["backend_options"] == {"output_tokens": 5}


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "ttft_bound_ns"), [("Server", 2e9), ("Interactive", 5e8)])
def test_server_and_interactive_report_ttft_and_tpot(
    tmp_path: Path, cnndm: Path, scenario: str, ttft_bound_ns: float
) -> None:
    (rec,) = _run(
        tmp_path, cnndm, "--scenario", scenario, "--target-qps", "500", "--count", "500",
        valid=False,
    )  # fmt: skip
    res = rec["result"]
    assert res["metric_unit"] == "tokens/s" and res["metric"] > 0
    assert res["ttft_ns"]["p99"] > 0 and res["tpot_ns"]["p99"] > 0
    run_dir = Path(rec["run_dir"])
    prefix = "llama3_1-8b-interactive.Server" if scenario == "Interactive" else "llama3_1-8b.Server"
    assert f"{prefix}.target_qps = 500" in (run_dir / "user.conf").read_text()
    detail = (run_dir / "mlperf_log_detail.txt").read_text()
    # mlperf.conf's TTFT bound for this scenario is the one LoadGen applied
    assert f'"requested_server_ttft_latency", "value": {int(ttft_bound_ns)}' in detail
    assert rec["config"]["scenario"] == scenario


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--scenario", "MultiStream"), "no MultiStream scenario for 'llama3.1-8b-standin'"),
        (("--backend-option", "output_tokens=1"), "output_tokens"),
    ],
)
def test_bad_token_runs_are_one_line_with_exit_code_2(
    tmp_path: Path, cnndm: Path, args: tuple[str, ...], expected: str
) -> None:
    out = run_cli("--workspace", str(tmp_path), "run", *MODEL, "--dataset-path", str(cnndm), *args)
    assert out.returncode == 2 and expected in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_scoring_without_a_tokenizer_is_refused_before_the_run(tmp_path: Path, cnndm: Path) -> None:
    out = run_cli("--workspace", str(tmp_path), "run", "--model", "llama3.1-8b", "--backend",
                  "null", "--dataset-path", str(cnndm), "--mode", "accuracy")  # fmt: skip
    assert out.returncode == 2 and "needs its tokenizer" in out.stderr
    assert not list(tmp_path.glob("runs/*"))


def test_a_backend_that_cannot_generate_and_interactive_for_a_classic_model(
    tmp_path: Path, cnndm: Path
) -> None:
    out = run_cli("--workspace", str(tmp_path), "run", "--model", "llama3.1-8b-standin",
                  "--dataset-path", str(cnndm), "--mode", "performance")  # fmt: skip
    assert out.returncode == 2 and "cannot run the generative model" in out.stderr
    out = run_cli("--workspace", str(tmp_path), "run", "--scenario", "Interactive")
    assert out.returncode == 2 and "no Interactive scenario for 'digits-cnn'" in out.stderr
