"""Post-training int8 quantization with NNCF, cached so that a second load does not redo it.

Cache layout under ``cache_dir()/"openvino-int8"/<key>/``::

    model.xml, model.bin   the quantized OpenVINO IR, each written atomically
    build.json             what it was built from and both files' sha256; written last, so
                           a model counts only once this exists (and its hashes still match)

``key`` hashes everything that changes the quantized model: the source model's sha256,
the dataset's sha256, the calibration sample count and seed, and the NNCF and OpenVINO
versions. One file lock per key makes two processes that need the same model build it once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from perfpilot.artifacts.files import (
    atomic_write_text,
    build_key,
    cache_dir,
    file_lock,
    sha256_file,
)
from perfpilot.backends.base import CalibrationData
from perfpilot.errors import MissingExtraError, ModelFileError

log = logging.getLogger(__name__)

SCHEMA_VERSION: Literal[1] = 1
#: Calibration samples: as many as the dataset has, up to this many (NNCF's default).
MAX_SAMPLES = 300
SEED = 0
INSTALL_HINT = "pip install nncf  (or: pip install 'perfpilot[openvino]')"


@dataclass(frozen=True)
class QuantSpec:
    """Everything that determines the quantized model; its hash is the cache key."""

    model_sha256: str
    dataset_sha256: str
    samples: int
    seed: int
    nncf_version: str
    openvino_version: str

    def key(self) -> str:
        return build_key(self)


@dataclass(frozen=True)
class Quantized:
    """A quantized IR ready to compile."""

    xml: Path
    spec: QuantSpec
    built: bool  # False when it came from the cache


def int8_cache_root() -> Path:
    return cache_dir() / "openvino-int8"


def calibration_indices(total: int, count: int = MAX_SAMPLES, seed: int = SEED) -> np.ndarray:
    """``min(count, total)`` distinct sample indices, drawn with a fixed seed, sorted."""
    n = min(count, total)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=n, replace=False))


def quantized_model(model_path: Path, data: CalibrationData) -> Quantized:
    """The int8 IR of ``model_path`` calibrated on ``data``: from the cache when a valid
    one is there, else quantized and stored."""
    import openvino

    nncf = import_nncf()
    spec = QuantSpec(
        model_sha256=sha256_file(model_path),
        dataset_sha256=data.dataset_sha256,
        samples=min(MAX_SAMPLES, data.total_count),
        seed=SEED,
        nncf_version=str(nncf.__version__),
        openvino_version=str(openvino.__version__),
    )
    folder = int8_cache_root() / spec.key()
    with file_lock(int8_cache_root() / f"{spec.key()}.lock"):
        if cached_ok(folder, spec):
            return Quantized(folder / "model.xml", spec, built=False)
        _build(model_path, data, spec, folder)
    return Quantized(folder / "model.xml", spec, built=True)


def import_nncf() -> Any:
    """NNCF, or a clear error that says how to install it."""
    try:
        import nncf
    except ImportError as err:
        raise MissingExtraError(
            "--precision int8 on openvino needs NNCF, which is not installed", INSTALL_HINT
        ) from err
    return nncf


def cached_ok(folder: Path, spec: QuantSpec) -> bool:
    """True when ``folder`` holds a complete model quantized from ``spec`` whose files
    still hash to what was recorded; anything else is rebuilt, never trusted."""
    try:
        meta = json.loads((folder / "build.json").read_text())
        if meta.get("schema_version") != SCHEMA_VERSION or meta.get("spec") != asdict(spec):
            return False
        files = meta.get("files") or {}
        return bool(files) and all(
            sha256_file(folder / name) == digest for name, digest in files.items()
        )
    except (OSError, ValueError, AttributeError):
        return False


def _build(model_path: Path, data: CalibrationData, spec: QuantSpec, folder: Path) -> None:
    import openvino as ov

    nncf = import_nncf()
    started = time.monotonic()
    log.info("openvino: quantizing %s to int8 on %d samples", model_path.name, spec.samples)
    with contextlib.suppress(FileNotFoundError):
        (folder / "build.json").unlink()  # the old copy stops counting at once
    folder.mkdir(parents=True, exist_ok=True)
    core = ov.Core()
    try:
        model = core.read_model(str(model_path))
    except Exception as err:  # OpenVINO raises RuntimeError subclasses
        raise ModelFileError(f"openvino cannot read {model_path}: {err}") from err
    indices = calibration_indices(data.total_count, spec.samples, spec.seed)
    # One sample per item, so the model's batch axis may be fixed or dynamic.
    items = [data.samples(indices[i : i + 1]) for i in range(len(indices))]
    nncf.set_log_level(logging.WARNING)
    try:
        quantized = nncf.quantize(
            model, nncf.Dataset(items), subset_size=len(items), target_device=nncf.TargetDevice.CPU
        )
    except Exception as err:  # NNCF raises many types for graphs it cannot handle
        raise ModelFileError(f"NNCF cannot quantize {model_path} to int8: {err}") from err
    # Save beside the cache entry, then move each file in: readers never see half a file.
    tmp = Path(tempfile.mkdtemp(prefix=".build.", dir=folder))
    try:
        ov.save_model(quantized, str(tmp / "model.xml"), compress_to_fp16=False)
        files = {}
        for name in ("model.bin", "model.xml"):
            os.chmod(tmp / name, 0o644)
            files[name] = sha256_file(tmp / name)
            os.replace(tmp / name, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "spec": asdict(spec),
        "model": str(model_path),
        "files": files,
        "build_seconds": round(time.monotonic() - started, 2),
    }
    atomic_write_text(folder / "build.json", json.dumps(meta, indent=2) + "\n")
