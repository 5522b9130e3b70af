"""Name -> implementation table. Entries are strings, so listing imports nothing heavy.

Third parties add backends through the ``perfpilot.backends`` entry-point group, whose
value is ``"module:Class"``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass

from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.errors import MissingExtraError, UsageError


@dataclass(frozen=True)
class BackendEntry:
    """A backend's implementation, the package it needs and the extra that installs it."""

    name: str
    target: str  # "module:Class"
    requires: tuple[str, ...]  # importable module names of the runtime
    extra: str | None  # perfpilot extra, None when the runtime is a core dependency
    devices: tuple[str, ...]
    description: str

    def installed(self) -> bool:
        """True when every runtime module this backend needs can be imported."""
        return all(importlib.util.find_spec(mod) is not None for mod in self.requires)

    def install_hint(self) -> str:
        if self.extra is None:
            return "pip install perfpilot"
        return f"pip install 'perfpilot[{self.extra}]'"


BACKENDS: dict[str, BackendEntry] = {
    "onnxruntime": BackendEntry(
        name="onnxruntime",
        target="perfpilot.backends.onnxruntime.backend:OnnxRuntimeBackend",
        requires=("onnxruntime",),
        extra=None,
        devices=("cpu", "cuda"),
        description="ONNX Runtime (CPU; CUDA with onnxruntime-gpu)",
    ),
    "openvino": BackendEntry(
        name="openvino",
        target="perfpilot.backends.openvino.backend:OpenVinoBackend",
        requires=("openvino",),
        extra="openvino",
        devices=("cpu",),
        description="Intel OpenVINO (reads ONNX; fp32 by default, --precision bf16|fp16|int8)",
    ),
    "pytorch": BackendEntry(
        name="pytorch",
        target="perfpilot.backends.pytorch.backend:PyTorchBackend",
        requires=("torch",),
        extra="pytorch",
        devices=("cpu", "cuda"),
        description="PyTorch (TorchScript; official ResNet50/BERT state dicts; built-in models)",
    ),
    "tensorflow": BackendEntry(
        name="tensorflow",
        target="perfpilot.backends.tensorflow.backend:TensorFlowBackend",
        requires=("tensorflow",),
        extra="tensorflow",
        devices=("cpu", "cuda"),
        description="TensorFlow (SavedModel dirs, frozen .pb graphs, built-in models from ONNX)",
    ),
    "tflite": BackendEntry(
        name="tflite",
        target="perfpilot.backends.tflite.backend:TfliteBackend",
        requires=("ai_edge_litert",),
        extra="tflite",
        devices=("cpu",),
        description="TFLite on the LiteRT interpreter (.tflite; digits-cnn converted by TF)",
    ),
    "tvm": BackendEntry(
        name="tvm",
        target="perfpilot.backends.tvm.backend:TvmBackend",
        requires=("tvm",),
        extra="tvm",
        devices=("cpu", "cuda"),
        description="Apache TVM (ONNX compiled through Relax; module cached per model/target)",
    ),
    "transformers": BackendEntry(
        name="transformers",
        target="perfpilot.backends.transformers.backend:TransformersBackend",
        requires=("torch", "transformers"),
        extra="transformers",
        devices=("cpu", "cuda"),
        description="Hugging Face transformers in process: generative models from a model "
        "folder (greedy, batched, first token streamed)",
    ),
    "openai": BackendEntry(
        name="openai",
        target="perfpilot.backends.openai.backend:OpenAIBackend",
        requires=("aiohttp", "tokenizers"),
        extra="openai",
        devices=("cpu", "cuda"),  # the server's device is its own; any is accepted here
        description="any OpenAI-compatible server over HTTP (vllm serve, SGLang, "
        "transformers serve), streamed; --endpoint URL",
    ),
    "vllm": BackendEntry(
        name="vllm",
        target="perfpilot.backends.vllm.backend:VllmBackend",
        requires=("vllm",),
        extra="vllm",
        devices=("cuda",),
        description="vLLM's engine in process (NVIDIA GPUs; continuous batching, tokens streamed)",
    ),
    "null": BackendEntry(
        name="null",
        target="perfpilot.backends.null.backend:NullBackend",
        requires=(),
        extra=None,
        devices=("cpu",),
        description="answers every sample at once; measures the harness itself",
    ),
}


def _entry_point_backends() -> dict[str, BackendEntry]:
    found = {}
    for ep in importlib.metadata.entry_points(group="perfpilot.backends"):
        found[ep.name] = BackendEntry(
            name=ep.name,
            target=ep.value,
            requires=(),
            extra=None,
            devices=("cpu", "cuda"),
            description=f"third-party backend from {ep.value.split(':')[0]}",
        )
    return found


def all_backends() -> dict[str, BackendEntry]:
    """Built-in backends plus those that installed packages register."""
    return {**_entry_point_backends(), **BACKENDS}


def get_backend_entry(name: str, device: str = "cpu") -> BackendEntry:
    """Look ``name`` up; unknown names list the valid ones, missing runtimes say what
    to install, unsupported devices say which devices work."""
    table = all_backends()
    entry = table.get(name)
    if entry is None:
        raise UsageError(
            f"unknown backend {name!r}",
            f"Choose one of: {', '.join(sorted(table))} (see 'perfpilot backends list').",
        )
    if not entry.installed():
        raise MissingExtraError(
            f"backend {name!r} needs {', '.join(entry.requires)}, which is not installed",
            f"Install it with: {entry.install_hint()}",
        )
    if device not in entry.devices:
        raise UsageError(
            f"backend {name!r} does not support device {device!r}",
            f"Use --device {' or '.join(entry.devices)}.",
        )
    return entry


def backend_class(name: str, device: str = "cpu") -> type[Backend]:
    """The class of backend ``name``, after the checks of :func:`get_backend_entry` and
    the backend's own check that ``device`` works here."""
    entry = get_backend_entry(name, device)
    module, _, cls_name = entry.target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except ImportError as err:
        raise MissingExtraError(
            f"backend {name!r} failed to import ({err})",
            f"Reinstall its runtime: {entry.install_hint()}",
        ) from err
    cls.check_device(device)
    return cls  # type: ignore[no-any-return]


def create_backend(
    name: str,
    config: BackendConfig | None = None,
    options: Mapping[str, object] | None = None,
    defaults: Mapping[str, object] | None = None,
) -> Backend:
    """Instantiate backend ``name`` (checks as :func:`backend_class`) with its own config
    class, built from the common ``config``, the user's ``options`` and the engine's
    ``defaults`` (see :meth:`Backend.make_config`)."""
    cls = backend_class(name, "cpu" if config is None else config.device)
    return cls(cls.make_config(config, options, defaults))
