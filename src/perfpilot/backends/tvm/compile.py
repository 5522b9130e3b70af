"""ONNX -> Relax -> a compiled module, cached so that a second load does not recompile.

Cache layout under ``cache_dir()/"tvm"/<key>/``::

    module.so     the exported library (weights included), written atomically
    build.json    what it was built from and its sha256; written last, so a module
                  counts only once this exists (and its hash still matches)

``key`` hashes everything that changes the compiled code: the model file's sha256, the
target string, the TVM version and perfpilot's schedule version. The batch axis stays
symbolic, so one module answers every batch size and the batch size is not part of the
key. One file lock per key makes two processes that load the same model build it once.

MetaSchedule tuning is not offered: in apache-tvm 0.27.0.post1 creating any
``meta_schedule.TuneContext`` crashes the process (a segfault in ``ToJSONGraph``), even
for a 64x64 matmul.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from perfpilot.artifacts.store import (
    atomic_write_text,
    build_key,
    cache_dir,
    file_lock,
    sha256_file,
)
from perfpilot.backends.tvm.schedule import SCHEDULE_VERSION, default_schedule_pass
from perfpilot.errors import ModelFileError

log = logging.getLogger(__name__)

SCHEMA_VERSION: Literal[1] = 1
_BATCH_DIM = "batch"


@dataclass(frozen=True)
class BuildSpec:
    """Everything that determines the compiled module; its hash is the cache key."""

    model_sha256: str
    target: str
    tvm_version: str
    schedule: str

    def key(self) -> str:
        return build_key(self)


@dataclass(frozen=True)
class Compiled:
    """A module ready to load."""

    library: Path
    spec: BuildSpec
    built: bool  # False when it came from the cache


def make_target(device: str) -> Any:
    """The host CPU (LLVM with the host's -mcpu), or the visible CUDA GPU."""
    import tvm

    if device == "cuda":
        return tvm.target.Target.from_device(tvm.cuda(0))
    cpu = str(tvm.target.codegen.llvm_get_system_cpu())
    return tvm.target.Target({"kind": "llvm", "mcpu": cpu})


def tvm_cache_root() -> Path:
    return cache_dir() / "tvm"


def compile_model(model_path: Path, device: str) -> Compiled:
    """The compiled module for ``model_path`` on ``device``: from the cache when a valid
    one is there, else built and stored."""
    import tvm

    target = make_target(device)
    spec = BuildSpec(
        model_sha256=sha256_file(model_path),
        target=str(target),
        tvm_version=str(tvm.__version__),
        schedule=SCHEDULE_VERSION if device == "cpu" else "tvm-default",
    )
    folder = tvm_cache_root() / spec.key()
    with file_lock(tvm_cache_root() / f"{spec.key()}.lock"):
        if cached_module_ok(folder, spec):
            return Compiled(folder / "module.so", spec, built=False)
        _build(model_path, target, spec, folder)
    return Compiled(folder / "module.so", spec, built=True)


def cached_module_ok(folder: Path, spec: BuildSpec) -> bool:
    """True when ``folder`` holds a complete module built from ``spec`` whose bytes
    still hash to what was recorded; anything else is rebuilt, never trusted."""
    try:
        meta = json.loads((folder / "build.json").read_text())
        if meta.get("schema_version") != SCHEMA_VERSION or meta.get("spec") != asdict(spec):
            return False
        return bool(sha256_file(folder / "module.so") == meta.get("module_sha256"))
    except (OSError, ValueError):
        return False


def discard(folder: Path) -> None:
    """Forget a cached module (its build record first, so it stops counting at once)."""
    with contextlib.suppress(FileNotFoundError):
        (folder / "build.json").unlink()


def _build(model_path: Path, target: Any, spec: BuildSpec, folder: Path) -> None:
    started = time.monotonic()
    log.info("tvm: compiling %s for %s (cached for later loads)", model_path.name, spec.target)
    discard(folder)
    folder.mkdir(parents=True, exist_ok=True)
    executable = _default_build(import_onnx(model_path), target)
    fd, tmp = tempfile.mkstemp(prefix=".module.", suffix=".so", dir=folder)
    os.close(fd)
    try:
        executable.export_library(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / "module.so")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    meta = {
        "schema_version": SCHEMA_VERSION,
        "spec": asdict(spec),
        "model": str(model_path),
        "module_sha256": sha256_file(folder / "module.so"),
        "build_seconds": round(time.monotonic() - started, 2),
    }
    atomic_write_text(folder / "build.json", json.dumps(meta, indent=2) + "\n")


def import_onnx(model_path: Path) -> Any:
    """The ONNX model as a Relax module, its first input's batch axis symbolic and its
    convolutions in NHWC, where the default CPU schedule vectorises over channels."""
    import onnx
    from google.protobuf.message import Error as ProtobufError
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    try:
        model = onnx.load(str(model_path))
    except (ProtobufError, OSError, ValueError) as err:
        raise ModelFileError(
            f"tvm cannot read {model_path} as ONNX ({_first_line(err)})",
            "Give an .onnx file (the tvm backend imports ONNX only).",
        ) from err
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if inputs and inputs[0].type.tensor_type.shape.dim:
        dim = inputs[0].type.tensor_type.shape.dim[0]
        if dim.HasField("dim_value"):
            # A model exported with batch 1 still answers any batch: the axis is renamed.
            dim.Clear()
            dim.dim_param = _BATCH_DIM
    try:
        mod = from_onnx(model, keep_params_in_input=False)
    except Exception as err:  # the importer raises many types for unsupported graphs
        raise ModelFileError(
            f"tvm {_tvm_version()} cannot import {model_path} ({_first_line(err)})",
            "Run this model with --backend onnxruntime, or simplify it (onnxsim) first.",
        ) from err
    mod = relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]})(mod)
    return relax.transform.FoldConstant()(mod)


def _cpu_pipeline(target: Any) -> Any:
    """Relax's CPU pipeline with perfpilot's default schedule after legalisation."""
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu

    @tvm.transform.module_pass(opt_level=0, name="PerfpilotCpuPipeline")  # type: ignore[untyped-decorator]
    def _pipeline(mod: Any, _ctx: Any) -> Any:
        passes = [
            *cpu.library_dispatch_passes(target),
            *cpu.legalize_passes(target),
            default_schedule_pass(),
            *cpu.dataflow_lower_passes(target),
            *cpu.finalize_passes(target),
        ]
        with target:
            return tvm.transform.Sequential(passes)(mod)

    return _pipeline


def _default_build(mod: Any, target: Any) -> Any:
    import tvm

    if target.kind.name == "llvm":
        return tvm.compile(mod, target=target, relax_pipeline=_cpu_pipeline(target))
    return tvm.compile(mod, target=target)  # CUDA: TVM's pipeline with dlight schedules


def _tvm_version() -> str:
    import tvm

    return str(tvm.__version__)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__
