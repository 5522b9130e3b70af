"""TensorFlow frozen graphs: a ``GraphDef`` protobuf whose variables are constants, the
format MLPerf publishes the TensorFlow ResNet50 (``resnet50_v1.pb``) and BERT-large
(``model.pb``) in.

A frozen graph names no inputs or outputs: the catalog does (``ModelSpec.input_names`` /
``output_names``, passed in ``TensorFlowConfig``), as the reference's profiles do. Without
them the graph's only placeholder is fed and its only dangling node fetched.
:func:`check_frozen_graph` reads the file in the parent (protobuf only, no session) and
refuses what cannot fit the task; :class:`FrozenGraph` imports it into its own
``tf.Graph`` and runs it in one ``tf.compat.v1.Session``, whose ``run`` is thread-safe.

Placeholders with a fixed batch size (the BERT graph's are ``[1, 384]`` int32) get the
batch in slices of that size, the last one padded; feeds are cast to each placeholder's
dtype (the task's int64 token ids become the graph's int32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.backends.tensorflow.runtime import fmt_shape, import_tensorflow
from perfpilot.errors import ModelFileError

#: Node types that never are a model's output although nothing consumes them.
_NOT_OUTPUTS = frozenset({"Placeholder", "PlaceholderWithDefault", "Const", "NoOp", "Assert"})


@dataclass(frozen=True)
class Placeholder:
    """One ``Placeholder`` node of a frozen graph."""

    name: str  # node name; its tensor is ``name:0``
    dtype: str  # numpy name, "float32", ...
    shape: tuple[int | None, ...] | None  # None: unknown rank


def tensor_name(name: str) -> str:
    """``ArgMax`` -> ``ArgMax:0``; names with an output index stay as they are."""
    return name if ":" in name else f"{name}:0"


def read_graph_def(path: Path) -> Any:
    """The ``GraphDef`` in ``path``, or a one-line ModelFileError."""
    import_tensorflow()
    from google.protobuf.message import DecodeError
    from tensorflow.core.framework import graph_pb2

    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}", "Check --model-path.")
    graph_def = graph_pb2.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except (DecodeError, OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise ModelFileError(
            f"{path} is not a TensorFlow frozen graph (GraphDef protobuf: {reason})",
            "Give the frozen .pb as published (e.g. resnet50_v1.pb), copied completely; "
            "for a SavedModel give its folder.",
        ) from err
    if not graph_def.node:
        raise ModelFileError(
            f"{path} is not a TensorFlow frozen graph (it holds no graph nodes)",
            "Give the frozen .pb as published, copied completely.",
        )
    return graph_def


def placeholders(graph_def: Any) -> list[Placeholder]:
    """The graph's ``Placeholder`` nodes, in graph order."""
    from tensorflow.python.framework import dtypes

    found = []
    for node in graph_def.node:
        if node.op != "Placeholder":
            continue
        try:
            dtype = dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype.__name__
        except TypeError:
            dtype = f"dtype#{node.attr['dtype'].type}"
        shape: tuple[int | None, ...] | None = None
        if "shape" in node.attr and not node.attr["shape"].shape.unknown_rank:
            dims = node.attr["shape"].shape.dim
            shape = tuple(d.size if d.size >= 0 else None for d in dims)
        found.append(Placeholder(node.name, dtype, shape))
    return found


def dangling(graph_def: Any) -> list[str]:
    """Names of the nodes whose outputs nothing in the graph consumes (output candidates)."""
    used = set()
    for node in graph_def.node:
        for name in node.input:
            used.add(name.lstrip("^").split(":")[0])
    return [n.name for n in graph_def.node if n.name not in used and n.op not in _NOT_OUTPUTS]


def _fits(shape: tuple[int | None, ...] | None, expected: tuple[int | None, ...]) -> bool:
    """``shape`` can take samples of ``expected`` (any batch size: a fixed one is sliced)."""
    if shape is None:
        return True
    if len(shape) != len(expected):
        return False
    return all(
        e is None or d is None or d == e for d, e in zip(shape[1:], expected[1:], strict=True)
    )


def check_frozen_graph(
    path: Path,
    input_shape: tuple[int, ...],
    input_dtype: str,
) -> None:
    """Raise a one-line ModelFileError unless ``path`` is a frozen graph whose placeholders
    can take the task's samples: one placeholder of ``[N, *input_shape]`` (float), or, for
    tasks whose samples stack k named inputs (``input_shape`` (k, seq)), k integer
    placeholders of ``[N, seq]``. The tensor names are checked when the model loads."""
    graph_def = read_graph_def(path)
    found = placeholders(graph_def)
    if not found:
        raise ModelFileError(
            f"{path} has no placeholder to feed",
            "Freeze the model with its input placeholders kept (tf.compat.v1.placeholder).",
        )
    if len(found) == 1:
        (ph,) = found
        expected: tuple[int | None, ...] = (None, *input_shape)
        if not _fits(ph.shape, expected) or ph.dtype != input_dtype:
            shown = "of unknown rank" if ph.shape is None else fmt_shape(ph.shape)
            raise ModelFileError(
                f"{path}: placeholder {ph.name!r} is {ph.dtype} {shown}, but the task feeds "
                f"{input_dtype} {fmt_shape(expected)}",
                "Use a model made for this task, or choose the matching --model "
                "(resnet50-tf feeds NHWC).",
            )
        return
    if len(input_shape) != 2 or input_shape[0] != len(found):
        raise ModelFileError(
            f"{path} has {len(found)} placeholders ({', '.join(p.name for p in found[:5])}); "
            f"the task feeds {'one' if len(input_shape) != 2 else input_shape[0]}",
            "Use a model made for this task, or choose the matching --model.",
        )
    seq: tuple[int | None, ...] = (None, input_shape[-1])
    for ph in found:
        if not _fits(ph.shape, seq) or not np.issubdtype(np.dtype(ph.dtype), np.integer):
            shown = "of unknown rank" if ph.shape is None else fmt_shape(ph.shape)
            raise ModelFileError(
                f"{path}: placeholder {ph.name!r} is {ph.dtype} {shown}, but the task feeds "
                f"integer ids {fmt_shape(seq)}",
                "Use a model made for this task, or choose the matching --model.",
            )


class FrozenGraph:
    """A frozen graph imported into its own graph and opened in one session."""

    def __init__(
        self,
        path: Path,
        session_config: Any,
        input_names: Sequence[str] = (),
        output_names: Sequence[str] = (),
    ) -> None:
        tf = import_tensorflow()
        graph_def = read_graph_def(path)
        graph = tf.Graph()
        try:
            with graph.as_default():
                tf.compat.v1.import_graph_def(graph_def, name="")
        except Exception as err:  # ValueError, NotFoundError (an op TF does not know), ...
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            raise ModelFileError(
                f"tensorflow cannot import the frozen graph {path} "
                f"({type(err).__name__}: {reason})",
                "Freeze it with this TensorFlow version's ops, or use the published file.",
            ) from err
        names = list(input_names) or [p.name for p in placeholders(graph_def)]
        outs = list(output_names) or dangling(graph_def)
        if len(outs) != 1 and not output_names:
            raise ModelFileError(
                f"{path} does not say which tensor is its output (candidates: "
                f"{', '.join(outs[:5]) or 'none'})",
                "Run it as a catalog model that names its tensors (resnet50-tf, "
                "bert-99-tensorflow).",
            )
        self.inputs = [self._tensor(graph, path, n, "input") for n in names]
        self.outputs = [self._tensor(graph, path, n, "output") for n in outs]
        self.input_names = [t.name for t in self.inputs]
        self.dtypes = [np.dtype(t.dtype.as_numpy_dtype) for t in self.inputs]
        # The batch size the graph fixes, if it does (slices of it are fed).
        fixed = {t.shape[0] for t in self.inputs if t.shape.rank and t.shape[0] is not None}
        self.fixed_batch: int | None = min(fixed) if fixed else None
        self.session = tf.compat.v1.Session(graph=graph, config=session_config)
        self._call = self.session.make_callable(self.outputs, self.inputs)

    @staticmethod
    def _tensor(graph: Any, path: Path, name: str, kind: str) -> Any:
        try:
            return graph.get_tensor_by_name(tensor_name(name))
        except (KeyError, ValueError) as err:
            raise ModelFileError(
                f"the frozen graph {path} has no {kind} tensor {tensor_name(name)!r}",
                "Use the file the catalog model names, or choose the matching --model.",
            ) from err

    def feed_order(self, names: Sequence[str]) -> list[int]:
        """Positions in ``names`` of the graph's inputs (``input_ids`` matches ``input_ids:0``)."""
        keys = [tensor_name(n) for n in names]
        missing = [n for n in self.input_names if n not in keys]
        if missing or len(keys) != len(self.input_names):
            raise ModelFileError(
                f"the frozen graph takes {', '.join(self.input_names)}, but the task feeds "
                f"{', '.join(keys)}",
                "Choose the catalog model made for this graph.",
            )
        return [keys.index(n) for n in self.input_names]

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Every output for the batch ``arrays`` (one per input, graph order)."""
        feeds = [np.ascontiguousarray(a, dtype=d) for a, d in zip(arrays, self.dtypes, strict=True)]
        n = len(feeds[0])
        step = self.fixed_batch
        if step is None or step == n:
            return [np.asarray(o) for o in self._call(*feeds)]
        parts: list[list[np.ndarray]] = []
        for start in range(0, n, step):
            chunk = [f[start : start + step] for f in feeds]
            short = step - len(chunk[0])
            if short:  # pad the last slice with copies of its first sample
                chunk = [np.concatenate([c, np.repeat(c[:1], short, axis=0)]) for c in chunk]
            outs = self._call(*chunk)
            parts.append([np.asarray(o)[: step - short] for o in outs])
        return [np.concatenate(column) for column in zip(*parts, strict=True)]

    def close(self) -> None:
        self.session.close()
