"""Shared fixtures. Tests never touch the user's cache or workspace: the artifact cache
is one temporary folder per test session (the built-in model is trained once), and each
test gets its own workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The project's shared/ folder lies beside the checkout (CI puts it there too);
# PERFPILOT_SHARED points elsewhere.
SHARED = Path(os.environ.get("PERFPILOT_SHARED", ROOT.parent / "shared"))
FIXTURE = SHARED / "fixtures" / "v4.1-intel-resnet50-closed"
FIXTURE_RESULTS = FIXTURE / "closed" / "Intel" / "results" / "1-node-2S-EMR-PyTorch" / "resnet50"


needs_fixture = pytest.mark.skipif(
    not FIXTURE_RESULTS.is_dir(),
    reason=f"official submission fixture not found at {FIXTURE} (set PERFPILOT_SHARED)",
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["PERFPILOT_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.pop("PERFPILOT_WORKSPACE", None)


@pytest.fixture
def workspace(tmp_path: Path):  # type: ignore[no-untyped-def]
    from perfpilot.workspace import Workspace

    return Workspace(tmp_path / "ws")


@pytest.fixture(scope="session")
def digits_model() -> Path:
    """The built-in model file, trained once per session."""
    from perfpilot.catalog.builtin import ensure_digits_cnn

    return ensure_digits_cnn(log=False)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``perfpilot`` command in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "perfpilot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
