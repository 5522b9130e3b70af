"""System description: detection, YAML completion, required fields, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfpilot.errors import UsageError
from perfpilot.submission import rounds
from perfpilot.submission import system as sysdesc
from tests.conftest import run_cli


def _cpuinfo_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def test_describe_has_every_required_field_and_detects_this_machine() -> None:
    desc = sysdesc.describe()
    assert set(rounds.common()["system_fields"]) <= set(desc.fields)
    assert desc.fields["number_of_nodes"] == 1
    model = _cpuinfo_model()
    if model:
        assert " ".join(desc.fields["host_processor_model_name"].split()) == " ".join(model.split())
    assert desc.fields["host_memory_capacity"].endswith("GB")
    assert "onnxruntime" in desc.fields["framework"]
    assert "mlcommons-loadgen" in desc.fields["other_software_stack"]
    # what the submitter must decide is never guessed
    for name in ("division", "submitter", "status", "system_name", "cooling"):
        assert name in desc.missing()


def test_yaml_completes_and_overrides(tmp_path: Path) -> None:
    yml = tmp_path / "s.yaml"
    yml.write_text("status: available\ncooling: air\nhost_processor_model_name: Custom CPU\n")
    desc = sysdesc.describe(sysdesc.read_yaml(yml), submitter="Acme", division="open")
    assert desc.fields["cooling"] == "air"
    assert desc.fields["host_processor_model_name"] == "Custom CPU"
    assert desc.fields["submitter"] == "Acme"
    assert "cooling" not in desc.missing() and "status" not in desc.missing()


def test_yaml_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(UsageError, match="mapping"):
        sysdesc.read_yaml(bad)
    bad.write_text("colling: air\n")
    with pytest.raises(UsageError, match=r"unknown system field.*colling"):
        sysdesc.read_yaml(bad)
    with pytest.raises(UsageError, match=r"missing\.yaml not found"):
        sysdesc.read_yaml(tmp_path / "missing.yaml")


def test_missing_fields_refuse_closed_only() -> None:
    data = sysdesc.describe(submitter="Acme").fields
    with pytest.raises(UsageError, match=r"lacks required field.*cooling"):
        sysdesc.require_complete(data, "sys.json", "closed")
    assert "cooling" in sysdesc.require_complete(data, "sys.json", "open")
    data = {name: "x" for name in rounds.common()["system_fields"]}
    assert sysdesc.require_complete(data, "sys.json", "closed") == []


def test_cli_describe_writes_json_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "sys.json"
    yml = tmp_path / "s.yaml"
    yml.write_text("cooling: air\n")
    proc = run_cli(
        "system",
        "describe",
        "--out",
        str(out),
        "--from",
        str(yml),
        "--category",
        "edge,datacenter",
        "--submitter",
        "Acme",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["cooling"] == "air" and data["submitter"] == "Acme"
    assert data["system_type"] == "datacenter,edge"
    assert "not detected" in proc.stderr and "system_name" in proc.stderr
    # what generate sets is not asked for
    listed_line = next(x for x in proc.stderr.splitlines() if x.startswith("not detected"))
    assert "division" not in listed_line.split("(")[0]
    before = out.read_text()
    again = run_cli("system", "describe", "--out", str(out))
    assert again.returncode == 2
    assert "exists" in again.stderr and "Traceback" not in again.stderr
    assert out.read_text() == before
    listed = run_cli("system", "describe", "--json")
    assert "system_name" in json.loads(listed.stdout)["missing"]


def test_accelerators_from_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    # nvidia-smi's CSV answer (noheader, nounits) for two GPUs; no GPU on the test machine
    answer = "NVIDIA H100 80GB HBM3, 81559, 1980\nNVIDIA H100 80GB HBM3, 81559, 1980\n"
    real = sysdesc._run
    monkeypatch.setattr(
        sysdesc, "_run", lambda cmd: answer if cmd[0] == "nvidia-smi" else real(cmd)
    )
    found = sysdesc.detect()
    assert found["accelerators_per_node"] == 2
    assert found["accelerator_model_name"] == "NVIDIA H100 80GB HBM3"
    assert found["accelerator_memory_capacity"] == "80 GB"
    assert found["accelerator_frequency"] == "1980 MHz"
    monkeypatch.setattr(sysdesc, "_run", lambda cmd: None if cmd[0] == "nvidia-smi" else real(cmd))
    assert sysdesc.detect()["accelerators_per_node"] == "0"
