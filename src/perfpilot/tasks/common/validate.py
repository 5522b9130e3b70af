"""Checks on a model file before any LoadGen test starts."""

from __future__ import annotations

from pathlib import Path

from perfpilot.errors import ModelFileError, UsageError
from perfpilot.tasks.spec import TaskSpec

_ONNX_FLOAT = 1  # onnx.TensorProto.FLOAT


def _dims(value_info: object) -> list[int | None]:
    shape = value_info.type.tensor_type.shape  # type: ignore[attr-defined]
    return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def _fmt(dims: list[int | None] | tuple[int | None, ...]) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in dims) + "]"


def _typed(value_info: object) -> str:
    """An ONNX input's element type and shape as the task's are written: int64 [N, 384]."""
    from onnx import helper

    elem = value_info.type.tensor_type.elem_type  # type: ignore[attr-defined]
    try:
        name = str(helper.tensor_dtype_to_np_dtype(elem))
    except (KeyError, ValueError, TypeError):
        name = f"ONNX type {elem}"
    return f"{name} {_fmt(_dims(value_info))}"


def check_onnx_model(path: Path, task: TaskSpec) -> None:
    """Raise a one-line error unless ``path`` is an ONNX model with the task's signature."""
    if not path.is_file():
        raise UsageError(f"model file not found: {path}", "Check the path given to --model-path.")
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as err:  # protobuf DecodeError, onnx ValidationError, ...
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise ModelFileError(
            f"{path} is not a valid ONNX model ({reason})",
            "Pass an .onnx file exported with onnx >= 1.10, copied completely.",
        ) from err
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if task.onnx_check:  # the task's own signature (DLRM: dense floats + multi-hot ids)
        from perfpilot.tasks.spec import resolve

        resolve(task.onnx_check)(path, inputs, list(model.graph.output))
        return
    if task.input_names:
        _check_named_inputs(path, task, inputs)
        return
    if len(inputs) != 1:
        raise ModelFileError(
            f"{path} has {len(inputs)} inputs; task {task.name!r} feeds exactly one",
            f"Export the model with one input of shape {_fmt((None, *task.input_shape))}.",
        )
    expected: tuple[int | None, ...] = (None, *task.input_shape)
    dims = _dims(inputs[0])
    fits = len(dims) == len(expected) and all(
        e is None or d is None or d == e for d, e in zip(dims, expected, strict=True)
    )
    if not fits or inputs[0].type.tensor_type.elem_type != _ONNX_FLOAT:
        raise ModelFileError(
            f"{path}: input {inputs[0].name!r} is {_typed(inputs[0])}, but task "
            f"{task.name!r} feeds float32 {_fmt(expected)}",
            "Use a model made for this task, or choose the matching --model.",
        )
    if task.metric == "mAP" and len(model.graph.output) != 3:
        raise ModelFileError(
            f"{path} has {len(model.graph.output)} outputs; task {task.name!r} needs a "
            "detector's three (boxes [K, 4], scores [K], labels [K])",
            "Use a model made for this task.",
        )
    out_dims = _dims(model.graph.output[0])
    if out_dims and out_dims[-1] is not None and out_dims[-1] != task.output_shape[-1]:
        raise ModelFileError(
            f"{path}: output {model.graph.output[0].name!r} has shape {_fmt(out_dims)}, "
            f"but task {task.name!r} expects {task.output_shape[-1]} scores per sample",
            "Use a model made for this task.",
        )


_ONNX_INT64 = 7  # onnx.TensorProto.INT64


def _check_named_inputs(path: Path, task: TaskSpec, inputs: list[object]) -> None:
    """Multi-input tasks (BERT): the task's input names, each int64 [N, seq]."""
    names = [i.name for i in inputs]  # type: ignore[attr-defined]
    if names != list(task.input_names):
        raise ModelFileError(
            f"{path} has inputs {', '.join(names) or 'none'}; task {task.name!r} feeds "
            f"{', '.join(task.input_names)}",
            "Export the model with these input names, in this order.",
        )
    expected: tuple[int | None, ...] = (None, task.input_shape[-1])
    for value in inputs:
        dims = _dims(value)
        fits = len(dims) == 2 and dims[1] in (None, expected[1])
        if not fits or value.type.tensor_type.elem_type != _ONNX_INT64:  # type: ignore[attr-defined]
            raise ModelFileError(
                f"{path}: input {value.name!r} is {_typed(value)}, but task "  # type: ignore[attr-defined]
                f"{task.name!r} feeds int64 {_fmt(expected)}",
                "Use a model made for this task, or choose the matching --model.",
            )
