"""Shared fixtures. Tests never touch the user's cache or workspace: the artifact cache
is one temporary folder per test session (the built-in model is trained once), and each
test gets its own workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    os.environ.pop("PERFPILOT_DB", None)


@pytest.fixture
def workspace(tmp_path: Path):  # type: ignore[no-untyped-def]
    from perfpilot.results.db import index_record
    from perfpilot.workspace import Workspace

    return Workspace(tmp_path / "ws", on_record=index_record)


@pytest.fixture(scope="session")
def postgres():  # type: ignore[no-untyped-def]
    """A real PostgreSQL server for the session (skips, saying why, where none can run)."""
    from tests import pg

    why = pg.missing()
    if why:
        pytest.skip(why)
    server = pg.PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh results database of each kind: a SQLite file, a PostgreSQL database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "r.sqlite")
    return str(request.getfixturevalue("postgres").new_database())


@pytest.fixture(scope="session")
def digits_model() -> Path:
    """The built-in model file, trained once per session."""
    from perfpilot.tasks.digits.model import ensure_digits_cnn

    return ensure_digits_cnn(log=False)


def loadgen_running(progress_files: object) -> bool:
    """Whether one of these progress.json files says its child runs the LoadGen test now
    (the child writes the file from its first phase, loading, on)."""
    import json

    for path in progress_files:  # type: ignore[attr-defined]
        try:
            phase = json.loads(Path(path).read_text()).get("phase")
        except (OSError, ValueError):
            continue  # being replaced this instant
        if isinstance(phase, str) and phase.endswith(" test"):
            return True
    return False


def default_sigint() -> None:
    """``preexec_fn`` for a child the test interrupts: a test run started in the
    background (nohup, ``&``) inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt; restore the default so the child's own handler is installed."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The real ``perfpilot`` command in a fresh process (``timeout``: a bound against a
    hang, far above what the command takes on a quiet machine)."""
    return subprocess.run(
        [sys.executable, "-m", "perfpilot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


#: What `system describe` cannot detect here, for the submission flow tests.
SYSTEM_YAML = """\
status: available
system_name: perfpilot CI machine
host_memory_configuration: unknown (virtual machine)
host_networking: virtual NIC
host_networking_topology: N/A
host_processor_interconnect: N/A
cooling: air
"""


def need_backend(name: str) -> None:
    """Skip, with the install line, unless backend ``name`` is installed."""
    from perfpilot.backends import BACKENDS

    entry = BACKENDS[name]
    if not entry.installed():
        pytest.skip(f"backend {name!r} is not installed; install it with: {entry.install_hint()}")


@pytest.fixture(scope="session")
def standin() -> Path:
    """The ResNet50 v1.5 stand-in's ONNX file (built once per session)."""
    from perfpilot.tasks.imagenet.standin import ensure_resnet50_standin

    return ensure_resnet50_standin()


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight synthetic ImageNet-style JPEGs with val_map.txt."""
    pytest.importorskip("cv2", reason="needs OpenCV: pip install 'perfpilot[vision]'")
    from perfpilot.tasks.imagenet.dataset import make_synthetic_imagenet

    return make_synthetic_imagenet(tmp_path_factory.mktemp("inet") / "imagenet", count=8, seed=3)


@pytest.fixture(scope="module")
def reference(standin: Path, batch: np.ndarray) -> list[np.ndarray]:
    """onnxruntime's ArgMax and softmax for the module's ``batch`` fixture."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(standin), providers=["CPUExecutionProvider"])
    out: list[np.ndarray] = session.run(["ArgMax:0", "softmax_tensor:0"], {"input_tensor:0": batch})
    return out


#: The loaders the classic tasks name for the pytorch and TensorFlow backends
#: (TaskSpec.loaders): tests that build those backends by hand pass them in BackendConfig.
TORCH_LOADER = "perfpilot.tasks.common.torch_models"
TF_LOADER = "perfpilot.tasks.common.tf_models"
