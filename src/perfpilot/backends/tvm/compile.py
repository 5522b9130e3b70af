"""ONNX -> Relax -> a compiled module, cached so that a second load does not recompile.

Cache layout under ``cache_dir()/"tvm"/<key>/`` (``artifacts.derived.build_once``)::

    module.so     the exported library (weights included), built aside and moved in
    build.json    what it was built from and its sha256; written last, so a module
                  counts only once this exists (and its hash still matches)

``key`` hashes everything that changes the compiled code: the model file's sha256, the
target string, the TVM version and perfpilot's schedule version. Untuned, the batch axis
stays symbolic, so one module answers every batch size and the batch size is not part of the
key. One file lock per key makes two processes that load the same model build it once.

MetaSchedule tuning is opt-in (``--backend-option tune_trials=N``, CPU only; see
``tune.py``). A tuned module is built for one batch size (MetaSchedule cannot tune a
symbolic axis: ``tune_tir`` on an ``(n, 64) x (64, 64)`` matmul stops with
``parallel_for_dynamic error ... Check failed: (old_rv != nullptr && new_rv !=
nullptr)``); the trial budget and that batch size are part of the ``schedule`` field, so
of the key, and its tuning records sit under ``<key>/tuning/``. Kernels without a record
get the default schedule.

apache-tvm 0.27.0.post1's wheel asks only for ``apache-tvm-ffi>=0.1.14.post0``, but with
apache-tvm-ffi 0.1.15.post1 or 0.1.15.post2 creating any ``TuneContext`` segfaults (in
``tvm::ffi::ToJSONGraph``), even for a 64x64 matmul; 0.1.14.post0 and 0.1.14.post1 work.
The ``tvm`` extra pins 0.1.14.post1, and tuning refuses to start with 0.1.15.x.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from perfpilot.artifacts import derived
from perfpilot.artifacts.derived import build_once
from perfpilot.artifacts.files import build_key, cache_dir, sha256_file
from perfpilot.backends.tvm.schedule import SCHEDULE_VERSION, default_schedule_pass
from perfpilot.backends.tvm.tune import TuneSettings, tune
from perfpilot.backends.tvm.tune import apply_pass as apply_tuning_pass
from perfpilot.errors import ModelFileError

log = logging.getLogger(__name__)

_BATCH_DIM = "batch"
ARTIFACT = "tvm-module"
MODULE = "module.so"
BUILD = "build.json"
TUNING = "tuning"


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
    batch: int = 0  # the one batch size a tuned module takes; 0: any
    tuned: bool = False  # True when this build ran MetaSchedule (no reusable records)


def make_target(device: str, tuned: bool = False) -> Any:
    """The host CPU (LLVM with the host's -mcpu), or the visible CUDA GPU. MetaSchedule
    (``tuned``) also needs the target's core count."""
    import tvm

    if device == "cuda":
        return tvm.target.Target.from_device(tvm.cuda(0))
    cpu = str(tvm.target.codegen.llvm_get_system_cpu())
    if tuned:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        return tvm.target.Target(
            {"kind": "llvm", "mcpu": cpu, "num-cores": cores or os.cpu_count() or 1}
        )
    return tvm.target.Target({"kind": "llvm", "mcpu": cpu})


def tvm_cache_root() -> Path:
    return cache_dir() / "tvm"


def compile_model(model_path: Path, device: str, tuning: TuneSettings | None = None) -> Compiled:
    """The compiled module for ``model_path`` on ``device`` (MetaSchedule-tuned as
    ``tuning`` says, CPU only): from the cache when a valid one is there, else built and
    stored."""
    import tvm

    target = make_target(device, tuned=tuning is not None)
    schedule = SCHEDULE_VERSION if device == "cpu" else "tvm-default"
    spec = BuildSpec(
        model_sha256=sha256_file(model_path),
        target=str(target),
        tvm_version=str(tvm.__version__),
        schedule=schedule + tuning.schedule_tag() if tuning else schedule,
    )
    folder = tvm_cache_root() / spec.key()
    tuned = False

    def build(tmp: Path) -> dict[str, str]:
        nonlocal tuned
        log.info("tvm: compiling %s for %s (cached for later loads)", model_path.name, spec.target)
        if tuning is None:
            executable = _default_build(import_onnx(model_path), target)
        else:
            executable, tuned = _tuned_build(
                import_onnx(model_path, batch=tuning.batch), target, folder / TUNING, tuning
            )
        executable.export_library(str(tmp / MODULE))
        return {"model": str(model_path)}

    # The tuning records survive a rebuild: a damaged module is not tuned again.
    made = build_once(
        folder, MODULE, build, artifact=ARTIFACT, key=_key(spec), manifest=BUILD, keep=(TUNING,)
    )
    batch = tuning.batch if tuning else 0
    return Compiled(made.path, spec, built=made.built, batch=batch, tuned=tuned)


def discard(folder: Path) -> None:
    """Forget a cached module (its build record first, so it stops counting at once)."""
    derived.discard(folder, BUILD)


def _key(spec: BuildSpec) -> dict[str, Any]:
    return {"spec": asdict(spec)}


def import_onnx(model_path: Path, batch: int = 0) -> Any:
    """The ONNX model as a Relax module, its first input's batch axis symbolic (or
    ``batch`` when given) and its convolutions in NHWC, where the default CPU schedule
    vectorises over channels."""
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
        if batch:
            dim.Clear()
            dim.dim_value = batch
        elif dim.HasField("dim_value"):
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


def _cpu_pipeline(target: Any, tuning_dir: Path | None = None) -> Any:
    """Relax's CPU pipeline with perfpilot's default schedule after legalisation (and,
    before it, the tuned kernels recorded in ``tuning_dir``)."""
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu

    @tvm.transform.module_pass(opt_level=0, name="PerfpilotCpuPipeline")  # type: ignore[untyped-decorator]
    def _pipeline(mod: Any, _ctx: Any) -> Any:
        with target:  # MetaSchedule's pass reads the target when it is created
            tuned = [apply_tuning_pass(tuning_dir)] if tuning_dir is not None else []
            passes = [
                *cpu.library_dispatch_passes(target),
                *cpu.legalize_passes(target),
                *tuned,
                default_schedule_pass(),
                *cpu.dataflow_lower_passes(target),
                *cpu.finalize_passes(target),
            ]
            return tvm.transform.Sequential(passes)(mod)

    return _pipeline


def _default_build(mod: Any, target: Any) -> Any:
    import tvm

    if target.kind.name == "llvm":
        return tvm.compile(mod, target=target, relax_pipeline=_cpu_pipeline(target))
    return tvm.compile(mod, target=target)  # CUDA: TVM's pipeline with dlight schedules


def _tuned_build(mod: Any, target: Any, work_dir: Path, tuning: TuneSettings) -> tuple[Any, bool]:
    """Tune the legalised kernels (unless complete records exist), then compile with the
    best record of each; kernels without records get the default schedule."""
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu

    with target:
        legal = tvm.transform.Sequential(
            [*cpu.library_dispatch_passes(target), *cpu.legalize_passes(target)]
        )(mod)
    tuned = tune(legal, target, work_dir, tuning.trials)
    pipeline = _cpu_pipeline(target, work_dir)
    return tvm.compile(mod, target=target, relax_pipeline=pipeline), tuned


def _tvm_version() -> str:
    import tvm

    return str(tvm.__version__)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__
