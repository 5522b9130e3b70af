"""The Criteo 1TB multi-hot set for DLRM-v2: day 23 read from a user's folder the way the
MLPerf reference (``recommendation/dlrm_v2/pytorch``) reads it, samples packed losslessly
into one int32 array, and a synthetic folder of the same layout.

Layout (the reference's preprocessed files; ``SUFFIX`` is empty for the official set,
``_sample`` for the "multihot-criteo-sample" set and ``_debug`` for the fake set its
``tools/quickgen.py`` writes)::

    DIR/day_23_dense{SUFFIX}.npy              float32 [rows, 13]  dense features
    DIR/day_23_sparse_multi_hot{SUFFIX}.npz   "0.npy" ... "25.npy": int32 [rows, hot_k]
    DIR/day_23_labels{SUFFIX}.npy             [rows, 1] (or [rows]) click label 0/1

Table ``k`` holds ``MULTI_HOT_SIZES[k]`` ids per row (214 in all). For the official files
only the first half of day 23 (``ceil(rows / 2)`` rows) is the validation set.

A LoadGen sample is not one row: the reference groups consecutive rows (user-item pairs)
into samples of 100-700 rows, sizes drawn from ``tools/dist_quantile.txt`` with numpy's
legacy generator seeded 123 (``--samples-to-aggregate-quantile-file``, ``--numpy-rand-seed``
defaults). ``--dataset-size N`` keeps the first N such samples, as ``--count-samples`` does.
The sample -> rows mapping is the reference's ``dlrm_trace_of_aggregated_samples.txt``.

Packing: a sample is an int32 array [rows, 228]: columns 0-12 are the dense float32
values' bit patterns (``view``, so exact), 13-226 the 214 multi-hot ids in table order,
227 the label. The ids are int32 in the files (the reference asserts it), so nothing is
lost; :class:`perfpilot.tasks.criteo.adapter.CriteoInputs` unpacks them into the model's
float32 ``dense_features`` and int64 ``sparse_features``.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import atomic_write_bytes
from perfpilot.errors import UsageError

DAY = 23
DENSE_COUNT = 13
#: Ids per row of each of the 26 tables (the reference's make_fake_criteo.sh and the
#: training set's multi-hot generation).
MULTI_HOT_SIZES = (
    3,
    2,
    1,
    2,
    6,
    1,
    1,
    1,
    1,
    7,
    3,
    8,
    1,
    6,
    9,
    5,
    1,
    1,
    1,
    12,
    100,
    27,
    10,
    3,
    1,
    1,
)
TABLE_COUNT = len(MULTI_HOT_SIZES)
SPARSE_WIDTH = sum(MULTI_HOT_SIZES)  # 214
#: Rows of each official embedding table (the reference main.py's num_embeddings_per_feature).
NUM_EMBEDDINGS = (
    40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10,
    2209, 11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 3,
)  # fmt: skip
#: The reference's tools/dist_quantile.txt: rows per sample, inverse CDF in 5% steps.
AGGREGATION_QUANTILE = (
    100, 100, 200, 200, 200, 200, 200, 200, 200, 200,
    200, 200, 200, 200, 300, 300, 400, 500, 600, 700,
)  # fmt: skip
AGGREGATION_SEED = 123
QSL_SIZE = 204800  # mlperf.conf: dlrm-v2.*.performance_sample_count_override
#: Column layout of a packed sample.
LABEL_COLUMN = DENSE_COUNT + SPARSE_WIDTH
PACKED_WIDTH = LABEL_COLUMN + 1
#: File-name suffix of each of the reference's dataset names.
VARIANTS = {"multihot-criteo": "", "multihot-criteo-sample": "_sample", "debug": "_debug"}
FORMAT_SPEC = "criteo-multihot-day23/quantile-aggregation-seed-123/packed-int32-228/v1"


def file_names(variant: str) -> tuple[str, str, str]:
    """Dense, sparse and label file names of one of the reference's dataset names."""
    suffix = VARIANTS[variant]
    return (
        f"day_{DAY}_dense{suffix}.npy",
        f"day_{DAY}_sparse_multi_hot{suffix}.npz",
        f"day_{DAY}_labels{suffix}.npy",
    )


def aggregation_offsets(rows: int, seed: int = AGGREGATION_SEED) -> np.ndarray:
    """Row boundaries of the samples: sample ``i`` is rows ``[off[i], off[i + 1])``.

    The same draws as the reference's loop (``quantile[np.random.randint(0, 20)]`` per
    sample after ``np.random.seed(123)``, the last sample cut at the end of the rows);
    drawing in blocks takes the same numbers from the legacy generator."""
    if rows <= 0:
        return np.zeros(1, dtype=np.int64)
    quantile = np.asarray(AGGREGATION_QUANTILE, dtype=np.int64)
    rng = np.random.RandomState(seed)
    ends: list[np.ndarray] = []
    covered = 0
    while covered < rows:
        block = quantile[rng.randint(0, len(quantile), size=(rows - covered) // 250 + 64)]
        block_ends = covered + np.cumsum(block)
        ends.append(block_ends)
        covered = int(block_ends[-1])
    cum = np.concatenate(ends)
    last = int(np.searchsorted(cum, rows))  # first sample that reaches the end
    offsets = np.concatenate([[0], cum[: last + 1]])
    offsets[-1] = rows
    return offsets.astype(np.int64)


def _bad(path: Path, what: str) -> UsageError:
    return UsageError(
        f"{path}: {what}",
        "Use the MLPerf preprocessed multi-hot Criteo files (see 'perfpilot dataset "
        "synthetic-criteo' for the layout).",
    )


def _load_npy(path: Path) -> np.ndarray:
    try:
        arr: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise _bad(path, f"not a readable .npy file ({err})") from err
    return arr


def _npz_member(path: Path, zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """One array of an .npz: memory-mapped where it is stored uncompressed (as the
    reference maps it), else read into memory."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise _bad(
            path, f"has no table {name!r} (expected 0.npy ... {TABLE_COUNT - 1}.npy)"
        ) from None
    try:
        if info.compress_type != zipfile.ZIP_STORED:
            with zf.open(name) as member:
                arr: np.ndarray = np.lib.format.read_array(member, allow_pickle=False)
            return arr
        with open(path, "rb") as raw:
            raw.seek(info.header_offset)
            local = raw.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                raise ValueError("bad zip local header")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            raw.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(raw)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
            offset = raw.tell()
        if dtype.hasobject:
            raise ValueError("object arrays are not allowed")
        return np.memmap(
            path, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C", offset=offset
        )
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise _bad(path, f"table {name!r} is not a readable .npy ({err})") from err


def read_tables(path: Path) -> list[np.ndarray]:
    """The 26 multi-hot tables of a ``day_23_sparse_multi_hot*.npz``, checked."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise _bad(path, f"not a readable .npz file ({err})") from err
    with zf:
        tables = [_npz_member(path, zf, f"{k}.npy") for k in range(TABLE_COUNT)]
    for k, (table, hot) in enumerate(zip(tables, MULTI_HOT_SIZES, strict=True)):
        if table.dtype != np.int32:
            raise _bad(path, f"table {k} is {table.dtype}; the multi-hot ids must be int32")
        if table.ndim != 2 or table.shape[1] != hot:
            raise _bad(
                path,
                f"table {k} has shape {list(table.shape)}; expected [rows, {hot}] "
                f"(multi-hot sizes {','.join(map(str, MULTI_HOT_SIZES))})",
            )
    return tables


def find_variant(folder: Path) -> str:
    """Which of the reference's dataset names ``folder`` holds (the official one first)."""
    if not folder.is_dir():
        raise UsageError(f"dataset folder not found: {folder}", "Check --dataset-path.")
    for variant in VARIANTS:
        if (folder / file_names(variant)[0]).is_file():
            return variant
    looked = ", ".join(file_names(v)[0] for v in VARIANTS)
    raise UsageError(
        f"{folder} holds no multi-hot Criteo day {DAY} files (looked for {looked})",
        "Pass the folder of the MLPerf preprocessed Criteo set, or make a stand-in with "
        "'perfpilot dataset synthetic-criteo DIR'.",
    )


class CriteoDataset:
    """Day 23 of the multi-hot Criteo set, grouped into the reference's samples."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        folder = Path(path)
        self.variant = find_variant(folder)
        dense_name, sparse_name, labels_name = file_names(self.variant)
        self.files = [folder / n for n in (dense_name, sparse_name, labels_name)]
        for file in self.files[1:]:
            if not file.is_file():
                raise UsageError(
                    f"{file} is missing (found {dense_name} beside it)",
                    "Copy all three files of the set: dense, sparse multi-hot and labels.",
                )
        dense = _load_npy(self.files[0])
        labels = _load_npy(self.files[2])
        tables = read_tables(self.files[1])
        if dense.dtype != np.float32 or dense.ndim != 2 or dense.shape[1] != DENSE_COUNT:
            raise _bad(
                self.files[0],
                f"dense features are {dense.dtype} {list(dense.shape)}; expected float32 "
                f"[rows, {DENSE_COUNT}]",
            )
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1 or labels.dtype.kind not in "biuf":
            raise _bad(
                self.files[2], f"labels are {labels.dtype} {list(labels.shape)}; expected [rows, 1]"
            )
        rows = len(dense)
        counts = {"labels": len(labels), **{f"table {k}": len(t) for k, t in enumerate(tables)}}
        wrong = {k: v for k, v in counts.items() if v != rows}
        if wrong:
            what, count = next(iter(wrong.items()))
            raise UsageError(
                f"{folder}: {what} has {count} rows but the dense features have {rows}",
                "The three files must come from the same preprocessing run.",
            )
        if self.variant == "multihot-criteo":  # the validation half (the reference's "val")
            rows = rows // 2 + rows % 2
        if rows == 0:
            raise _bad(self.files[0], "holds no rows")
        self._dense, self._labels, self._tables = dense, labels, tables
        offsets = aggregation_offsets(rows)
        groups = len(offsets) - 1
        if size is not None:
            groups = min(groups, size)
        self.offsets = offsets[: groups + 1]
        self.rows = int(self.offsets[-1])
        self.total_count = groups
        self.performance_count = min(groups, QSL_SIZE)
        self.name = f"criteo-{self.variant}-day{DAY}"
        self._sha: str | None = None

    def sha256(self) -> str:
        """A fingerprint of the files and of the samples used: each file's size and
        the hash of its first and last MiB (hashing ~100 GB would take minutes)."""
        if self._sha is None:
            h = hashlib.sha256(f"{FORMAT_SPEC}\0{self.variant}\0{self.total_count}\0".encode())
            for file in self.files:
                size = file.stat().st_size
                h.update(f"{file.name}\0{size}\0".encode())
                with open(file, "rb") as f:
                    h.update(f.read(1 << 20))
                    if size > 2 << 20:
                        f.seek(size - (1 << 20))
                        h.update(f.read())
            self._sha = h.hexdigest()
        return self._sha

    def sample_rows(self, index: int) -> tuple[int, int]:
        """The rows ``[start, end)`` of LoadGen sample ``index``."""
        return int(self.offsets[index]), int(self.offsets[index + 1])

    def samples(self, indices: np.ndarray) -> np.ndarray:
        """Packed samples for QSL indices: an object array holding one int32
        [rows_i, 228] array per sample (views of one block)."""
        idx = np.asarray(indices, dtype=np.int64)
        starts, ends = self.offsets[idx], self.offsets[idx + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        # every sample's rows, in order: start_i + 0, 1, ... lengths_i - 1
        before = np.cumsum(lengths) - lengths
        rows = np.arange(total, dtype=np.int64) + np.repeat(starts - before, lengths)
        packed = pack_rows(
            np.asarray(self._dense[rows]),
            [np.asarray(t[rows]) for t in self._tables],
            np.asarray(self._labels[rows]),
        )
        out = np.empty(len(idx), dtype=object)
        for i, part in enumerate(np.split(packed, np.cumsum(lengths)[:-1])):
            out[i] = part
        return out

    def labels(self) -> np.ndarray:
        """The click label of every row used, in row order (float32 0/1)."""
        return np.asarray(self._labels[: self.rows], dtype=np.float32)

    def aggregation_trace(self) -> str:
        """The reference's ``dlrm_trace_of_aggregated_samples.txt``: ``start, end, rows``."""
        starts, ends = self.offsets[:-1], self.offsets[1:]
        return "".join(f"{s}, {e}, {e - s}\n" for s, e in zip(starts, ends, strict=True))


def pack_rows(dense: np.ndarray, tables: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Rows -> one int32 [rows, 228] array (dense bits | 214 ids | label); lossless."""
    n = len(dense)
    packed = np.empty((n, PACKED_WIDTH), dtype=np.int32)
    packed[:, :DENSE_COUNT] = np.ascontiguousarray(dense, dtype=np.float32).view(np.int32)
    col = DENSE_COUNT
    for table in tables:
        packed[:, col : col + table.shape[1]] = table
        col += table.shape[1]
    if col != LABEL_COLUMN:
        raise ValueError(f"the tables hold {col - DENSE_COUNT} ids per row, not {SPARSE_WIDTH}")
    packed[:, LABEL_COLUMN] = np.asarray(labels).reshape(n)
    return packed


def unpack_rows(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int32 [rows, 228] -> dense float32 [rows, 13], ids int64 [rows, 214], labels
    float32 [rows]; the inverse of :func:`pack_rows`."""
    dense = np.ascontiguousarray(packed[:, :DENSE_COUNT]).view(np.float32)
    ids = packed[:, DENSE_COUNT:LABEL_COLUMN].astype(np.int64)
    labels = packed[:, LABEL_COLUMN].astype(np.float32)
    return dense, ids, labels


def make_synthetic_criteo(
    folder: Path,
    rows: int = 2000,
    seed: int = 0,
    variant: str = "debug",
    max_id: int | None = None,
) -> Path:
    """Write a small set in the reference's layout (the ``debug`` names by default, as its
    make_fake_criteo.sh does). Ids fall below each official table's size (or ``max_id``),
    dense values are log(1 + count)-like floats, and labels are 0/1 with about 25% clicks
    that depend on the features, so a model can be better than chance.
    Runs the pipeline end to end; its AUC means nothing."""
    if variant not in VARIANTS:
        raise UsageError(
            f"unknown Criteo set name {variant!r}", f"Choose one of: {', '.join(VARIANTS)}."
        )
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    dense_name, sparse_name, labels_name = file_names(variant)
    dense = np.log1p(rng.exponential(20.0, size=(rows, DENSE_COUNT))).astype(np.float32)
    tables = {}
    for k, (hot, size) in enumerate(zip(MULTI_HOT_SIZES, NUM_EMBEDDINGS, strict=True)):
        high = size if max_id is None else min(size, max_id)
        tables[f"{k}.npy"] = rng.integers(0, high, size=(rows, hot), dtype=np.int32)
    score = dense[:, 0] - dense[:, 1] + 0.5 * rng.standard_normal(rows)
    labels = (score > np.quantile(score, 0.75)).astype(np.int32).reshape(rows, 1)
    atomic_write_bytes(folder / dense_name, _npy_bytes(dense))
    atomic_write_bytes(folder / labels_name, _npy_bytes(labels))
    atomic_write_bytes(folder / sparse_name, _npz_bytes(tables))
    return folder


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npz_bytes(arrays: dict[str, Any]) -> bytes:
    """An uncompressed .npz (what np.savez writes; the reference memory-maps it)."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            zf.writestr(name, _npy_bytes(arr))
    return buf.getvalue()
