"""Post-training int8 quantization with NNCF, cached so that a second load does not redo it.

Cache layout under ``cache_dir()/"openvino-int8"/<key>/``::

    model.xml, model.bin   the quantized OpenVINO IR, saved aside and moved in
    build.json             what it was built from and both files' sha256; written last, so
                           a model counts only once this exists (and its hashes still match)

``key`` hashes everything that changes the quantized model: the source model's sha256,
the dataset's sha256, the calibration sample count and seed, and the NNCF and OpenVINO
versions. One file lock per key makes two processes that need the same model build it once
(``artifacts.derived.build_once``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts.derived import build_once, ready
from perfpilot.artifacts.files import build_key, cache_dir, sha256_file
from perfpilot.backends.base import CalibrationData
from perfpilot.errors import MissingExtraError, ModelFileError

log = logging.getLogger(__name__)

ARTIFACT = "openvino-int8"
XML = "model.xml"
BUILD = "build.json"
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
    made = build_once(
        int8_cache_root() / spec.key(),
        XML,
        lambda tmp: _build(model_path, data, spec, tmp),
        artifact=ARTIFACT,
        key=_key(spec),
        manifest=BUILD,
    )
    return Quantized(made.path, spec, built=made.built)


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
    return ready(folder, XML, artifact=ARTIFACT, key=_key(spec), manifest=BUILD) is not None


def _key(spec: QuantSpec) -> dict[str, Any]:
    return {"spec": asdict(spec)}


def _build(model_path: Path, data: CalibrationData, spec: QuantSpec, tmp: Path) -> dict[str, str]:
    """Quantize ``model_path`` into ``tmp`` as ``model.xml`` + ``model.bin``."""
    import openvino as ov

    nncf = import_nncf()
    log.info("openvino: quantizing %s to int8 on %d samples", model_path.name, spec.samples)
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
    ov.save_model(quantized, str(tmp / XML), compress_to_fp16=False)
    return {"model": str(model_path)}
