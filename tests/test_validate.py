from pathlib import Path

import numpy as np
import pytest

from perfpilot.errors import ModelFileError, UsageError
from perfpilot.tasks import get_task
from perfpilot.tasks.common.validate import check_onnx_model


def _model(path: Path, shape: list[object], out: int = 10, elem: int = 1) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    flat = int(np.prod([d for d in shape[1:] if isinstance(d, int)]))
    w = numpy_helper.from_array(np.zeros((out, flat), np.float32), "w")
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("Gemm", ["f", "w"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", elem, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_the_builtin_model_fits_its_task(digits_model: Path) -> None:
    check_onnx_model(digits_model, get_task("digits"))


def test_garbage_file_is_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00\xffnot a model at all" * 10)
    with pytest.raises(ModelFileError, match="is not a valid ONNX model"):
        check_onnx_model(bad, get_task("digits"))


def test_truncated_model_is_not_onnx(tmp_path: Path, digits_model: Path) -> None:
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(digits_model.read_bytes()[:50_000])
    with pytest.raises(ModelFileError, match="is not a valid ONNX model"):
        check_onnx_model(cut, get_task("digits"))


def test_wrong_input_shape_names_both_shapes(tmp_path: Path) -> None:
    path = _model(tmp_path / "rgb.onnx", ["N", 3, 224, 224])
    with pytest.raises(ModelFileError) as info:
        check_onnx_model(path, get_task("digits"))
    assert "is float32 [N, 3, 224, 224], but task 'digits' feeds float32 [N, 1, 8, 8]" in str(
        info.value
    )


def test_wrong_input_type_names_both_types(tmp_path: Path) -> None:
    from onnx import TensorProto

    path = _model(tmp_path / "ids.onnx", ["N", 1, 8, 8], elem=TensorProto.INT64)
    with pytest.raises(ModelFileError) as info:
        check_onnx_model(path, get_task("digits"))
    assert "is int64 [N, 1, 8, 8], but task 'digits' feeds float32 [N, 1, 8, 8]" in str(info.value)


def test_wrong_output_width(tmp_path: Path) -> None:
    path = _model(tmp_path / "five.onnx", ["N", 1, 8, 8], out=5)
    with pytest.raises(ModelFileError, match="expects 10 scores per sample"):
        check_onnx_model(path, get_task("digits"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="model file not found"):
        check_onnx_model(tmp_path / "nope.onnx", get_task("digits"))
