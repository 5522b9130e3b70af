"""Apache TVM backend: ONNX imported through Relax, compiled for this CPU (LLVM with the
host's -mcpu) or a CUDA GPU, run on the Relax VM.

The compiled module is cached (see ``compile.py``), so only the first load of a model
compiles. Each calling thread gets its own VM (a VM keeps per-call state) and its own
TVM thread pool sized to ``threads``; the loaded library is shared. A MetaSchedule-tuned
module (``--backend-option tune_trials=N``, see ``tune.py``) takes one batch size; other
batches run in chunks of it, the last padded with zeros.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.backends.tvm.config import TvmConfig
from perfpilot.errors import ModelFileError, UsageError

log = logging.getLogger(__name__)

_AFFINITY_SHARE_ALL = -3  # TVM's kSpecifyThreadShareAllCore: no thread pinned to one core


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _prepare_thread_pools(threads: int | None) -> None:
    """TVM sizes each thread's pool once, from TVM_NUM_THREADS, and by default pins the
    calling thread to one core (which would leave LoadGen and the other workers one
    core). Allow up to every core, unpinned, before any pool exists; each VM's thread then
    narrows its own pool to ``threads``."""
    most = max(len(_cpus()) or os.cpu_count() or 1, threads or 1)
    if int(os.environ.get("TVM_NUM_THREADS", "0") or 0) < most:
        os.environ["TVM_NUM_THREADS"] = str(most)
    os.environ.setdefault("TVM_BIND_THREADS", "0")


class TvmBackend(Backend):
    name = "tvm"
    config_class = TvmConfig
    config: TvmConfig

    def __init__(self, config: BackendConfig | None = None) -> None:
        super().__init__(config)
        self._library: Any = None
        self._batch = 0
        self._local = threading.local()
        self._generation = object()

    @classmethod
    def version(cls) -> str:
        import tvm

        return str(tvm.__version__)

    @classmethod
    def check_device(cls, device: str) -> None:
        if device == "cpu":
            return
        import tvm

        if device != "cuda":
            raise UsageError(f"the tvm backend has no device {device!r}", "Use --device cpu.")
        if not tvm.runtime.enabled("cuda") or not tvm.cuda(0).exist:
            raise UsageError(
                f"tvm {tvm.__version__} here cannot use CUDA (no NVIDIA GPU or driver is "
                "visible, or TVM was built without CUDA)",
                "Use --device cpu, or run on a machine with an NVIDIA GPU and its driver.",
            )

    def load(self, model_path: Path | None) -> None:
        from perfpilot.backends.tvm.compile import compile_model, discard
        from perfpilot.backends.tvm.tune import tune_settings

        if model_path is None:
            raise ModelFileError("the tvm backend needs a model file")
        if not model_path.is_file():
            raise ModelFileError(f"model file not found: {model_path}", "Check --model-path.")
        device = self.config.device
        self.check_device(device)
        if device == "cpu":
            _prepare_thread_pools(self.config.threads)
        tuning = tune_settings(self.config)
        import tvm

        compiled = compile_model(model_path, device, tuning)
        try:
            library = tvm.runtime.load_module(str(compiled.library))
        except Exception as err:  # TVM raises its own types; a cached module is rebuilt
            if compiled.built:
                raise ModelFileError(
                    f"tvm built {compiled.library} but cannot load it ({err})"
                ) from err
            log.warning("tvm: cached module %s does not load (%s); rebuilding", compiled, err)
            discard(compiled.library.parent)
            compiled = compile_model(model_path, device, tuning)
            library = tvm.runtime.load_module(str(compiled.library))
        self._library = library
        self._batch = compiled.batch  # a tuned module's one batch size; 0: any
        self._device = tvm.cuda(0) if device == "cuda" else tvm.cpu(0)
        self._local = threading.local()
        self._generation = object()  # VMs of an earlier load() are not reused

    def _vm(self) -> Any:
        local = self._local
        if getattr(local, "generation", None) is not self._generation:
            from tvm import relax

            if self._library is None:
                raise UsageError("the tvm backend has no model: call load() first")
            if self.config.device == "cpu":
                import tvm

                threads = self.config.threads or len(_cpus()) or 1
                configure = tvm.get_global_func("runtime.config_threadpool")
                configure(_AFFINITY_SHARE_ALL, threads, [str(c) for c in _cpus()])
            local.vm = relax.VirtualMachine(self._library, self._device)
            local.main = local.vm["main"]
            local.generation = self._generation
        return local.main

    def predict(self, batch: np.ndarray) -> np.ndarray:
        size = self._batch
        if not size or len(batch) == size:
            return self._run(batch)
        # A tuned module takes one batch size: chunks of it, the last padded with zeros.
        parts = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            if len(chunk) < size:
                pad = np.zeros((size - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)
                parts.append(self._run(np.concatenate([chunk, pad]))[: len(chunk)])
            else:
                parts.append(self._run(chunk))
        return np.concatenate(parts)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        import tvm

        main = self._vm()
        # tvm.runtime.tensor copies the batch, so the caller's buffer is never kept.
        out = main(tvm.runtime.tensor(np.ascontiguousarray(batch), self._device))
        if not hasattr(out, "numpy"):  # several outputs: the first, as other backends do
            out = out[0]
        result: np.ndarray = out.numpy()
        return result

    def close(self) -> None:
        self._local = threading.local()
        self._library = None
