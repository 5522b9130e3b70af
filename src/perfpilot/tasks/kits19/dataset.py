"""KiTS19 for 3D-UNet: the user's folder as the MLCommons reference's ``preprocess.py``
writes it, read lazily, and a synthetic folder of the same layout for machines without
the real data.

Layout (reference ``vision/medical_imaging/3d-unet-kits19``, ``--mode preprocess``)::

    DIR/preprocessed_files.pkl   {"file_list": [case names, QSL order],
                                  "cases": {case: {"image_shape": (1, D, H, W),
                                                   "original_affine", "reshaped_affine",
                                                   "zoom_factor", "case"}}}
    DIR/case_XXXXX.pkl           [image float32 (1, D, H, W), label uint8 (1, D, H, W)]
    DIR/nifti/case_XXXXX/        imaging.nii.gz, segmentation.nii.gz (not needed here)

Each image is already resampled to 1.6 x 1.2 x 1.2 mm, clipped, normalised and padded so
every side is at least 128 and a multiple of 64: the sliding window (128^3 patches, half
overlap) covers it exactly. Cases differ in size, so ``samples`` returns a 1-D object
array holding one volume per index, which the engine's sliding-window wrapper takes one
case at a time (:mod:`perfpilot.tasks.kits19.adapter`).

The reference's accuracy script reads the ground truth from ``nifti/<case>/
segmentation.nii.gz``; that file holds the very label array stored second in the case's
pickle, so perfpilot reads it from there (no NIfTI reader needed).
"""

from __future__ import annotations

import io
import pickle
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import atomic_write_bytes
from perfpilot.errors import UsageError
from perfpilot.safepaths import listed_path
from perfpilot.tasks.common.fingerprint import folder_fingerprint

INDEX_FILE = "preprocessed_files.pkl"
ROI = 128  # the model's patch side (reference ROI_SHAPE)
STRIDE = 64  # ROI * (1 - SLIDE_OVERLAP_FACTOR 0.5)
CLASSES = 3  # background, kidney, tumour
PADDING_VALUE = -2.2  # the reference's PADDING_VAL for the image
# Reference normalisation: clip HU to [-79, 304], then (HU - 101) / 76.9.
MEAN_VALUE, STDDEV_VALUE = 101.0, 76.9

# What a pickle of numpy arrays, dicts, tuples and strings may name, in numpy 1.x and 2.x
# spellings. Pickles can run any code they name; these globals only rebuild arrays.
_SAFE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol 2 pickles bytes through it
    *(
        (f"{root}.{module}", name)
        for root in ("numpy.core", "numpy._core")
        for module, name in (
            ("multiarray", "_reconstruct"),
            ("multiarray", "scalar"),
            ("numeric", "_frombuffer"),
        )
    ),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Loads the reference's pickles (numpy arrays in lists and dicts) and refuses any
    other global, so a foreign pickle in the folder cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_pickle(path: Path) -> Any:
    """A pickle of numpy arrays, with a one-line error for a missing or foreign file."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(
            f"cannot read {path}: {err.strerror or err}",
            "Point --dataset-path at the folder the reference's preprocess.py wrote.",
        ) from err
    try:
        return _ArrayUnpickler(io.BytesIO(data)).load()
    except Exception as err:  # UnpicklingError, EOFError, ValueError, ...
        raise UsageError(
            f"{path} is not a pickle of the reference's preprocessed data ({err})",
            "Re-create it with the reference's preprocess.py (or 'perfpilot dataset "
            "synthetic-kits19 DIR' for a stand-in).",
        ) from err


def check_volume_shape(shape: tuple[int, ...]) -> str | None:
    """Why ``shape`` (1, D, H, W) cannot be covered by the sliding window, or None."""
    if len(shape) != 4 or shape[0] != 1:
        return f"shape {tuple(shape)} is not (1, D, H, W)"
    for side in shape[1:]:
        if side < ROI or (side - ROI) % STRIDE:
            return f"side {side} of {tuple(shape)} is not 128 + a multiple of 64"
    return None


def read_index(folder: Path) -> tuple[list[str], dict[str, Any]]:
    """The case list and per-case facts of a preprocessed folder, checked."""
    if not folder.is_dir():
        raise UsageError(f"dataset folder not found: {folder}", "Check --dataset-path.")
    path = folder / INDEX_FILE
    if not path.is_file():
        raise UsageError(
            f"dataset folder {folder} has no {INDEX_FILE}",
            "Point --dataset-path at the folder the reference's preprocess.py wrote "
            "(--results_dir), or make a stand-in with 'perfpilot dataset synthetic-kits19 DIR'.",
        )
    index = read_pickle(path)
    files = index.get("file_list") if isinstance(index, dict) else None
    cases = index.get("cases") if isinstance(index, dict) else None
    if (
        not isinstance(files, list)
        or not files
        or not all(isinstance(f, str) for f in files)
        or not isinstance(cases, dict)
    ):
        raise UsageError(
            f"{path} is not the reference's index (needs a non-empty 'file_list' of case "
            "names and a 'cases' dict)",
            "Re-create it with the reference's preprocess.py.",
        )
    for number, case in enumerate(files):
        listed_path(folder, f"{case}.pkl", path, f"file_list[{number}]")
        aux = cases.get(case)
        shape = aux.get("image_shape") if isinstance(aux, dict) else None
        if shape is None:
            raise UsageError(
                f"{path}: case {case!r} has no 'image_shape' entry",
                "Re-create the index with the reference's preprocess.py.",
            )
        why = check_volume_shape(tuple(int(s) for s in shape))
        if why:
            raise UsageError(
                f"{path}: case {case!r}: {why}",
                "Use data padded by the reference's preprocess.py.",
            )
    return list(files), cases


class Kits19Dataset:
    """The first ``size`` cases of a preprocessed KiTS19 folder. Only the index is read
    when the dataset is built; each volume is read when LoadGen loads its sample, and
    shared (not copied) while anything still holds it."""

    name = "kits19-preprocessed"

    def __init__(self, folder: Path, size: int | None = None) -> None:
        self.folder = folder.expanduser().absolute()
        files, cases = read_index(self.folder)
        if size is not None:
            if size < 1:
                raise UsageError(f"invalid dataset size {size}: must be at least 1")
            files = files[:size]
        for case in files:
            if not (self.folder / f"{case}.pkl").is_file():
                raise UsageError(
                    f"case file listed in {INDEX_FILE} not found: {self.folder / case}.pkl",
                    "Check that the preprocessed folder is complete.",
                )
        self.cases = files
        self.shapes = [tuple(int(s) for s in cases[c]["image_shape"]) for c in files]
        self.total_count = len(files)
        # mlperf.conf's performance_sample_count_override for 3d-unet is 0: the QSL's own
        # count, which the reference sets to every case.
        self.performance_count = self.total_count
        self._sha = self._identity()
        self._live: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()

    def _identity(self) -> str:
        return folder_fingerprint(
            "kits19-preprocessed-v1",
            self.folder / INDEX_FILE,
            ((case, self.folder / f"{case}.pkl") for case in self.cases),
        )

    def sha256(self) -> str:
        return self._sha

    def labels(self) -> np.ndarray:
        """QSL indices (the ground truth is each case's label volume: :meth:`label`)."""
        return np.arange(self.total_count, dtype=np.int64)

    def _read_case(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        path = self.folder / f"{self.cases[i]}.pkl"
        data = read_pickle(path)
        if not isinstance(data, (list, tuple)) or len(data) < 2:
            raise UsageError(
                f"{path} does not hold [image, label]", "Re-create it with preprocess.py."
            )
        image, label = data[0], data[1]
        for what, arr in (("image", image), ("label", label)):
            if not isinstance(arr, np.ndarray) or tuple(arr.shape) != self.shapes[i]:
                got = getattr(arr, "shape", type(arr).__name__)
                raise UsageError(
                    f"{path}: {what} is {got}, but {INDEX_FILE} says {self.shapes[i]}",
                    "Re-create the folder with the reference's preprocess.py.",
                )
        return image, label

    def volume(self, i: int) -> np.ndarray:
        """Case ``i``'s image, float32 (1, D, H, W)."""
        live = self._live.get(i)
        if live is not None:
            return live
        image = np.ascontiguousarray(self._read_case(i)[0], dtype=np.float32)
        self._live[i] = image
        return image

    def label(self, i: int) -> np.ndarray:
        """Case ``i``'s ground-truth segmentation, uint8 (1, D, H, W)."""
        return np.asarray(self._read_case(i)[1]).astype(np.uint8, copy=False)

    def samples(self, indices: np.ndarray) -> np.ndarray:
        """One volume per index, in a 1-D object array (cases differ in size)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty(len(idx), dtype=object)
        for slot, i in enumerate(idx):
            out[slot] = self.volume(int(i))
        return out


def _ellipsoid(shape: tuple[int, int, int], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    grids = np.ogrid[: shape[0], : shape[1], : shape[2]]
    dist = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True))
    return np.asarray(dist <= 1.0)


def synthetic_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic case: an image (1, D, H, W) float32 and its label uint8, sides of 128
    or 192 with at least one 192 (so the window takes more than one patch). A kidney
    (label 1) holds a tumour (label 2); intensities are -1, 1 and 2 (normalised units)
    plus noise below 0.3, with a border of the reference's padding value."""
    while True:
        sides = tuple(int(s) for s in rng.choice([ROI, ROI + STRIDE], size=3))
        if max(sides) > ROI:
            break
    shape: tuple[int, int, int] = (sides[0], sides[1], sides[2])
    label = np.zeros(shape, dtype=np.uint8)
    dims = np.array(shape, dtype=np.float64)
    for _ in range(int(rng.integers(1, 3))):
        centre = dims * rng.uniform(0.3, 0.7, size=3)
        radii = dims * rng.uniform(0.08, 0.18, size=3)
        label[_ellipsoid(shape, centre, radii)] = 1
        inner = centre + radii * rng.uniform(-0.3, 0.3, size=3)
        label[_ellipsoid(shape, inner, radii * rng.uniform(0.3, 0.5))] = 2
    means = np.array([-1.0, 1.0, 2.0], dtype=np.float32)
    noise = np.clip(rng.normal(0.0, 0.1, size=shape), -0.29, 0.29).astype(np.float32)
    image = means[label] + noise
    pad = 4  # the reference pads with PADDING_VALUE (label 0) to reach its sizes
    border = np.ones(shape, dtype=bool)
    border[pad:-pad, pad:-pad, pad:-pad] = False
    image[border] = PADDING_VALUE
    label[border] = 0
    return image[np.newaxis].astype(np.float32), label[np.newaxis]


def make_synthetic_kits19(folder: Path, count: int = 4, seed: int = 0) -> Path:
    """Write ``count`` synthetic cases and ``preprocessed_files.pkl`` in the reference's
    preprocessed layout (no ``nifti/`` folder). The content means nothing: it exists to
    run the 3D-UNet pipeline and its DICE script without the real data."""
    if count < 1:
        raise UsageError(f"invalid case count {count}: must be at least 1")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"case_{i:05d}" for i in range(count)]
    cases: dict[str, Any] = {}
    affine = np.diag([-1.6, -1.2, -1.2, 1.0])  # the reference's reshaped affine layout
    for name in names:
        image, label = synthetic_case(rng)
        atomic_write_bytes(folder / f"{name}.pkl", pickle.dumps([image, label], protocol=4))
        cases[name] = {
            "original_affine": affine.copy(),
            "reshaped_affine": affine.copy(),
            "zoom_factor": np.ones(3),
            "case": name,
            "image_shape": image.shape,
        }
    index = {"file_list": names, "cases": cases}
    atomic_write_bytes(folder / INDEX_FILE, pickle.dumps(index, protocol=4))
    return folder
