"""The ResNet50 v1.5 stand-in has the reference's signature and size, and runs."""

from __future__ import annotations

import numpy as np
import pytest

from perfpilot.tasks.imagenet.standin import RESNET50_INPUT, resnet50_onnx_bytes


@pytest.fixture(scope="module")
def resnet50() -> bytes:
    return resnet50_onnx_bytes()


def test_resnet50_standin_matches_the_reference_architecture(resnet50: bytes) -> None:
    import onnx

    model = onnx.load_from_string(resnet50)
    params = sum(int(np.prod(init.dims)) for init in model.graph.initializer)
    assert 25_400_000 < params < 25_700_000  # ResNet50 with BN folded, 1001 classes
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == 53  # 1 stem + 16 blocks x 3 + 4 projections
    strided_3x3 = [
        n
        for n in convs
        if list(n.attribute[0].ints) == [3, 3]
        and any(a.name == "strides" and a.ints[0] == 2 for a in n.attribute)
    ]
    assert len(strided_3x3) == 3  # v1.5: stages 2-4 downsample in the 3x3 convolution
    assert [i.name for i in model.graph.input] == [RESNET50_INPUT]
    assert {o.name for o in model.graph.output} == {"ArgMax:0", "softmax_tensor:0"}
    assert resnet50_onnx_bytes() == resnet50  # deterministic


def test_resnet50_standin_runs_on_onnxruntime(resnet50: bytes) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(resnet50, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    argmax, softmax = session.run(["ArgMax:0", "softmax_tensor:0"], {RESNET50_INPUT: x})
    assert argmax.shape == (2,) and softmax.shape == (2, 1001)
    assert np.isfinite(softmax).all()
    np.testing.assert_allclose(softmax.sum(axis=1), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(argmax, softmax.argmax(axis=1))
