"""What a run needs before its first LoadGen test, resolved once in the parent: the model
(built, found or the user's file, checked against the task), the dataset, their records,
and the machine-dependent defaults of the config."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfpilot.artifacts import sha256_file
from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.backends.registry import backend_class
from perfpilot.config.run import RunConfig
from perfpilot.errors import UsageError
from perfpilot.records import ArtifactRecord
from perfpilot.tasks import Dataset, ModelSpec, TaskSpec, get_model, model_task
from perfpilot.tasks.common.validate import check_onnx_model


@dataclass
class Prepared:
    """What every test of one model x backend shares, resolved once in the parent."""

    model: ModelSpec
    task: TaskSpec
    dataset: Dataset
    model_file: Path | None
    model_record: ArtifactRecord
    dataset_record: ArtifactRecord


def prepare(cfg: RunConfig) -> Prepared:
    """Check names and files and build or find the model, before any LoadGen test."""
    backend = backend_class(cfg.backend, cfg.device)  # checks name, install and device
    backend.check_precision(cfg.precision)
    backend.make_config(BackendConfig(device=cfg.device), cfg.backend_options)  # bad options
    model = get_model(cfg.model)
    task = model_task(model)  # the task as the model's file sees it (layout, preprocessing)
    if not (model.runnable and task.runnable):
        raise UsageError(
            f"model {model.name!r} is a catalog entry perfpilot cannot run yet ({model.format} "
            f"on the {task.name} task: its loader or accuracy script is not written)",
            "'perfpilot models list' marks the runnable models; 'perfpilot cache fetch "
            f"{model.name}' still downloads its file where the catalog has one.",
        )
    if cfg.mode == "accuracy" and not task.scorer:
        raise UsageError(
            f"task {task.name!r} has no accuracy script in perfpilot yet",
            "Run it with --mode performance.",
        )
    if task.generative and backend.generate is Backend.generate:
        raise UsageError(
            f"backend {backend.name!r} cannot run the generative model {model.name!r}",
            "Use --backend transformers or openai (--backend null measures the harness alone).",
        )
    # A catalog file in a framework's own format (pytorch, tensorflow) goes only to a
    # backend that reads it (its ``model_formats``). Checked before anything is downloaded.
    formats = backend.model_formats
    fetched = cfg.model_path is None and bool(model.urls or model.provider)
    if fetched and backend.needs_model and model.format not in formats:
        raise UsageError(
            f"model {model.name!r} is a {model.format} file, which backend {backend.name!r} "
            "does not read",
            f"Run it with --backend {model.format}, or give a file that {backend.name} reads "
            "with --model-path.",
        )
    if (
        cfg.model_path is not None
        and backend.needs_model
        and model.input_names
        and model.format not in formats
    ):
        # The entry names the tensors of its own format's file (a pytorch entry's "image"),
        # which a file for another backend does not have: point to the entry for that format.
        from perfpilot.tasks import models

        siblings = [
            m.name
            for m in models().values()
            if m.task == model.task
            and m.loadgen_name == model.loadgen_name
            and m.format in formats
            and m.runnable
        ]
        raise UsageError(
            f"model {model.name!r} describes a {model.format} file (inputs "
            f"{', '.join(model.input_names)}), not a file for backend {backend.name!r}",
            (
                f"Run your file with --model {siblings[0]}"
                if siblings
                else f"Run it with --backend {model.format}"
            )
            + f", or keep --model {model.name} with --backend {model.format}.",
        )
    if task.input_names and backend.needs_model and backend.predict_named is Backend.predict_named:
        raise UsageError(
            f"backend {backend.name!r} cannot feed the named inputs of {model.name!r} "
            f"({', '.join(task.input_names)})",
            "Use --backend onnxruntime for this model.",
        )
    if (
        task.generative
        and cfg.mode == "accuracy"
        and cfg.model_path is None
        and not model.tokenizer
        and not backend.needs_model
    ):
        raise UsageError(
            f"scoring {model.name!r} needs its tokenizer to read the generated token ids",
            "Pass --model-path with the model's Hugging Face folder (it holds "
            "tokenizer.json), or run --mode performance.",
        )
    dataset = task.load_dataset(cfg.dataset_path, cfg.dataset_size)  # fails fast on bad data
    if cfg.model_path is not None:
        model_file: Path | None = cfg.model_path.expanduser().absolute()
        check_model_file(model_file, task, backend)  # type: ignore[arg-type]
    elif not backend.needs_model:
        model_file = None  # e.g. the null backend: no model to build
    else:
        model_file = model.ensure_file()
    probe = None
    if task.generative and task.input_dtype == "int32":
        # a prompt that cannot fit the model's context stops here, not mid-run (token
        # prompts only: Whisper's samples are waveforms, 1,633 of up to 30 s)
        prompts = dataset.samples(np.arange(dataset.total_count))
        lengths = [len(p) for p in prompts]
        settings = backend.make_config(
            BackendConfig(device=cfg.device),
            cfg.backend_options,
            defaults={"max_new_tokens": task.max_new_tokens},
        )
        if model_file is not None:
            backend.check_prompts(model_file, max(lengths), settings)
        probe = prompts[[int(np.argmax(lengths))]]
    else:
        settings = backend.make_config(BackendConfig(device=cfg.device), cfg.backend_options)
    # The backend's own check of the run (a server that answers, the model it serves),
    # with the longest token prompt to try.
    backend.preflight(settings, model_file, probe)
    model_record = ArtifactRecord(
        name=model.name,
        path=None if model_file is None else str(model_file),
        sha256=None if model_file is None else _model_sha256(model_file, backend.needs_model),
        substituted=cfg.model_path is not None,
    )
    dataset_record = ArtifactRecord(
        name=dataset.name,
        path=None if cfg.dataset_path is None else str(cfg.dataset_path),
        sha256=dataset.sha256(),
        substituted=cfg.dataset_path is not None,
    )
    return Prepared(model, task, dataset, model_file, model_record, dataset_record)


#: In ``Backend.model_suffixes``, "/" stands for a model that is a directory (SavedModel).
MODEL_DIRECTORY = "/"


def check_model_file(path: Path, task: TaskSpec, backend: type[Backend]) -> None:
    """ONNX files are checked against the task's signature; other formats only where the
    backend reads them, and by the backend's ``check_model`` classmethod."""
    kind = MODEL_DIRECTORY if path.is_dir() else path.suffix.lower()
    if kind not in backend.model_suffixes and (path.exists() or kind):
        files = [s for s in backend.model_suffixes if s != MODEL_DIRECTORY]
        what = "directories" if kind == MODEL_DIRECTORY else f"{kind or 'suffix-less'} files"
        dirs = " or a model directory" if MODEL_DIRECTORY in backend.model_suffixes else ""
        raise UsageError(
            f"backend {backend.name!r} does not read {what} ({path})",
            f"Give it a {' or '.join(files)} file{dirs}.",
        )
    if kind == ".onnx":
        check_onnx_model(path, task)
    elif not path.exists():
        raise UsageError(f"model file not found: {path}", "Check the path given to --model-path.")
    loader = task.loader(backend.name)
    backend.check_model(path, task.input_shape, task.input_dtype, task.output_shape, loader=loader)


#: Weight files in a model folder: a backend that reads only the tokenizer (a server's
#: client) does not hash them (a Llama 3.1 8B folder holds 16 GB).
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack", ".onnx")


def _model_sha256(path: Path, weights: bool = True) -> str:
    """A file's SHA-256; for a model directory, one over its files' paths and hashes
    (without its weight files when ``weights`` is False)."""
    if not path.is_dir():
        return sha256_file(path)
    h = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        if not weights and item.suffix in _WEIGHTS:
            continue
        h.update(item.relative_to(path).as_posix().encode() + b"\0")
        h.update(bytes.fromhex(sha256_file(item)))
    return h.hexdigest()


def resolve_config(cfg: RunConfig) -> RunConfig:
    """Fill in defaults that depend on the machine (recorded, so a run can be repeated).

    Offline and Server default to one worker per core, each with one runtime thread: a
    worker's Python work (gather, responses) then overlaps the other's inference.
    SingleStream and MultiStream run a query at a time, so the runtime gets every core.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    batched = cfg.scenario in ("Offline", "Server", "Interactive")
    threads = cfg.threads or (cores if batched else 1)
    backend_threads = cfg.backend_threads or max(1, cores // (threads if batched else 1))
    # The child runs in its run directory: relative paths must not reach it.
    paths = {
        key: value.expanduser().absolute()
        for key in ("model_path", "dataset_path")
        if (value := getattr(cfg, key)) is not None
    }
    return cfg.model_copy(update={"threads": threads, "backend_threads": backend_threads, **paths})
