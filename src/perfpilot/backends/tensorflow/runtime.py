"""Importing TensorFlow quietly, and reading a SavedModel's serving signature.

TensorFlow prints INFO lines from C++ (oneDNN, CPU features) on every import, some of
them before its logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` alone cannot hide them.
:func:`import_tensorflow` sets that variable (unless the user did) and filters the
import's stderr at the file-descriptor level: INFO and WARNING lines go, as the level
asks, and every other line (errors above all) is written back.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from perfpilot.errors import ModelFileError

#: 2 hides TensorFlow's INFO and WARNING messages and keeps its errors.
DEFAULT_LOG_LEVEL = "2"
_ABSL_BANNER = re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\)")
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] ")
_LEVELS = "IWEF"  # absl severities, in TF_CPP_MIN_LOG_LEVEL order


def quiet_env() -> int:
    """Set ``TF_CPP_MIN_LOG_LEVEL`` unless the user chose one; return the level in force."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LOG_LEVEL)
    try:
        return int(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    except ValueError:
        return 0


def _keep(line: str, level: int) -> bool:
    if level >= 1 and _ABSL_BANNER.match(line):
        return False
    found = _ABSL_LINE.match(line)
    return found is None or _LEVELS.index(found.group(1)) >= level


@contextlib.contextmanager
def filtered_stderr(level: int) -> Iterator[None]:
    """Hold back C++ log lines below ``level`` written to fd 2 inside the block. Use it only
    while no other thread writes to stderr (imports and model conversion)."""
    if level <= 0:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = "".join(line for line in text.splitlines(True) if _keep(line, level))
            if kept:
                os.write(2, kept.encode("utf-8"))


def import_tensorflow() -> ModuleType:
    """``import tensorflow``, without its start-up log lines."""
    loaded: ModuleType | None = sys.modules.get("tensorflow")
    if loaded is not None:
        return loaded
    with filtered_stderr(quiet_env()):
        import tensorflow

    module: ModuleType = tensorflow
    return module


def fmt_shape(dims: tuple[int | None, ...] | list[int | None]) -> str:
    """``[N, 1, 8, 8]``: unknown sizes print as N."""
    return "[" + ", ".join("N" if d is None else str(d) for d in dims) + "]"


@dataclass(frozen=True)
class TensorSig:
    """One input or output of a signature: its key, graph tensor, dtype and shape."""

    key: str
    tensor: str
    dtype: str  # numpy name: "float32", ...
    shape: tuple[int | None, ...] | None  # None: unknown rank


@dataclass(frozen=True)
class ServingSignature:
    """The signature a SavedModel is served with."""

    name: str
    inputs: tuple[TensorSig, ...]
    outputs: tuple[TensorSig, ...]


SERVING_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"


def _tensor_sig(key: str, info: Any) -> TensorSig:
    from tensorflow.python.framework import dtypes

    shape = info.tensor_shape
    dims = None if shape.unknown_rank else tuple(d.size if d.size >= 0 else None for d in shape.dim)
    try:
        dtype = dtypes.as_dtype(info.dtype).name
    except TypeError:
        dtype = f"dtype#{info.dtype}"
    return TensorSig(key=key, tensor=info.name, dtype=dtype, shape=dims)


def read_signature(directory: Path) -> ServingSignature:
    """The serving signature of the SavedModel in ``directory`` (read from its
    ``saved_model.pb``, no graph is loaded); one-line errors for anything unusable."""
    import_tensorflow()
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    pb = directory / "saved_model.pb"
    if not directory.is_dir():
        raise ModelFileError(
            f"SavedModel directory not found: {directory}", "Check the path given to --model-path."
        )
    if not pb.is_file():
        raise ModelFileError(
            f"{directory} is not a SavedModel directory (it has no saved_model.pb)",
            "Give the folder that tf.saved_model.save wrote (saved_model.pb + variables/).",
        )
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString(pb.read_bytes())
    except (DecodeError, OSError) as err:
        raise ModelFileError(
            f"{pb} is not a readable SavedModel ({str(err).strip() or type(err).__name__})",
            "Export the model again with tf.saved_model.save and copy the whole folder.",
        ) from err
    graphs = [m for m in saved.meta_graphs if SERVING_TAG in m.meta_info_def.tags]
    if not graphs:
        raise ModelFileError(
            f"{directory} has no graph tagged {SERVING_TAG!r}",
            "Export it with tf.saved_model.save (which tags the graph 'serve').",
        )
    signatures = graphs[0].signature_def
    if DEFAULT_SIGNATURE in signatures:
        name = DEFAULT_SIGNATURE
    elif len(signatures) == 1:
        name = next(iter(signatures))
    else:
        raise ModelFileError(
            f"{directory} has no {DEFAULT_SIGNATURE!r} signature "
            f"(it has: {', '.join(sorted(signatures)) or 'none'})",
            f"Save the model with signatures={{'{DEFAULT_SIGNATURE}': fn}}.",
        )
    sig = signatures[name]
    return ServingSignature(
        name=name,
        inputs=tuple(_tensor_sig(k, sig.inputs[k]) for k in sorted(sig.inputs)),
        outputs=tuple(_tensor_sig(k, sig.outputs[k]) for k in sorted(sig.outputs)),
    )


def pick_output(outputs: tuple[TensorSig, ...], per_sample: tuple[int, ...]) -> TensorSig:
    """The output the task reads: the only one, else the only one shaped ``[N,
    *per_sample]``, else the first by name."""
    if len(outputs) == 1 or not per_sample:
        return outputs[0]
    fits = [
        o
        for o in outputs
        if o.shape is not None
        and len(o.shape) == len(per_sample) + 1
        and all(d is None or d == e for d, e in zip(o.shape[1:], per_sample, strict=True))
    ]
    return fits[0] if len(fits) == 1 else outputs[0]


def check_signature(
    where: str,
    inputs: list[tuple[str, str, tuple[int | None, ...] | None]],
    outputs: list[tuple[str, tuple[int | None, ...] | None]],
    input_shape: tuple[int, ...],
    input_dtype: str,
    output_shape: tuple[int, ...],
) -> None:
    """Raise a one-line ModelFileError unless a model with ``inputs`` (name, dtype, shape)
    and ``outputs`` (name, shape) takes ``[N, *input_shape]`` of ``input_dtype`` and
    gives ``output_shape[-1]`` scores per sample. Any batch size is accepted (backends
    resize it); None in a shape is a free size."""
    expected: tuple[int | None, ...] = (None, *input_shape)
    if len(inputs) != 1:
        raise ModelFileError(
            f"{where} has {len(inputs)} inputs; the task feeds exactly one",
            f"Export the model with one input of shape {fmt_shape(expected)}.",
        )
    name, dtype, dims = inputs[0]
    fits = dims is None or (
        len(dims) == len(expected)
        and all(
            e is None or d is None or d == e for d, e in zip(dims[1:], expected[1:], strict=True)
        )
    )
    if not fits or dtype != input_dtype:
        shown = "of unknown rank" if dims is None else fmt_shape(dims)
        raise ModelFileError(
            f"{where}: input {name!r} is {dtype} {shown}, but the task feeds "
            f"{input_dtype} {fmt_shape(expected)}",
            "Use a model made for this task, or choose the matching --model.",
        )
    if not outputs:
        raise ModelFileError(f"{where} has no outputs", "Export the model with its outputs.")
    out_name, out_dims = outputs[0]
    if out_dims and out_dims[-1] is not None and out_dims[-1] != output_shape[-1]:
        raise ModelFileError(
            f"{where}: output {out_name!r} has shape {fmt_shape(out_dims)}, but the task "
            f"expects {output_shape[-1]} scores per sample",
            "Use a model made for this task.",
        )
