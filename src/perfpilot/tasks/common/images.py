"""What image tasks share: OpenCV, imported on use, and the preprocessed-array cache
(rows streamed to disk, memory-mapped on use)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts.derived import build_once
from perfpilot.errors import UsageError


def opencv() -> Any:
    """The ``cv2`` module, or a one-line error saying how to install it."""
    try:
        import cv2
    except ImportError as err:
        raise UsageError(
            "image preprocessing needs OpenCV, which is not installed",
            "Install it with: pip install 'perfpilot[vision]'",
        ) from err
    return cv2


def cached_arrays(
    folder: Path,
    meta: dict[str, Any],
    shape: tuple[int, ...],
    build: Callable[[int], np.ndarray],
) -> np.ndarray:
    """A float32 array of ``shape`` whose row i is ``build(i)``, cached as ``folder/data.npy``
    (memory-mapped) with ``meta.json`` written last: only a complete cache is reused, and a
    file lock makes concurrent builders wait for one build.

    The rows are streamed to disk one at a time, so building needs the memory of one row,
    not of the whole array: ImageNet's 50,000 validation images are 30 GB of float32, more
    than many machines' memory."""

    def write(tmp: Path) -> dict[str, Any]:
        _stream_rows(tmp / "data.npy", shape, build)
        return {**meta, "count": shape[0]}

    # Not re-hashed at each use (30 GB would take a minute): sizes are checked.
    made = build_once(
        folder,
        "data.npy",
        write,
        artifact="preprocessed-arrays",
        key={"shape": list(shape)},
        verify=False,
        manifest="meta.json",
    )
    loaded: np.ndarray = np.load(made.path, mmap_mode="r")
    return loaded


def _stream_rows(
    data_path: Path, shape: tuple[int, ...], build: Callable[[int], np.ndarray]
) -> None:
    """Write the ``.npy`` file of ``shape`` row by row into ``data_path``, refusing at once
    when its disk has not room for it."""
    import errno
    import os
    import shutil

    folder = data_path.parent
    row_shape = tuple(shape[1:])
    need = 4 * int(np.prod(shape, dtype=np.int64)) + 4096
    free = shutil.disk_usage(folder).free
    if need > free:
        raise UsageError(
            f"the preprocessed cache of this dataset needs {need / 1e9:.1f} GB in {folder}, "
            f"and only {free / 1e9:.1f} GB are free",
            "Free some space, or point PERFPILOT_CACHE at a larger disk.",
        )
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": tuple(shape),
    }
    try:
        with open(data_path, "wb") as out:
            np.lib.format.write_array_header_1_0(out, header)
            for i in range(shape[0]):
                row = np.asarray(build(i), dtype=np.float32)
                if row.shape != row_shape:
                    raise ValueError(f"row {i} has shape {row.shape}, not {row_shape}")
                out.write(np.ascontiguousarray(row).tobytes())
            out.flush()
            os.fsync(out.fileno())
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise UsageError(
                f"the disk holding {folder} filled up while the preprocessed cache was built",
                "Free some space, or point PERFPILOT_CACHE at a larger disk.",
            ) from err
        raise
