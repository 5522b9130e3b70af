"""The networks the classic tasks build in torch, found by a file's content: the pytorch
backend's loader for digits, ImageNet, SQuAD, OpenImages and LibriSpeech (named by their
specs' ``loaders``, so the backend imports no task).

Read in this order, as the files themselves tell apart: a ``torch.save`` file is
RetinaNet's pickled model or state dict, else an RNN-T checkpoint, else a TorchVision
ResNet or HF BERT state dict (unknown keys are refused, naming them); any other file is a
built-in model's ONNX file (digits-cnn, the ResNet50 v1.5 stand-in) rebuilt in torch.
TorchScript archives never reach a loader: the backend loads them itself.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from perfpilot.errors import ModelFileError
from perfpilot.tasks.common import torch_state
from perfpilot.tasks.digits.torch_net import load_digits_cnn
from perfpilot.tasks.imagenet.torch_net import load_resnet50_standin
from perfpilot.tasks.librispeech.torch_net import check_rnnt, load_rnnt
from perfpilot.tasks.openimages import torch_load as retinanet_net


def read(path: Path, output_shape: tuple[int, ...] = ()) -> nn.Module:
    """The torch module for ``path`` (not TorchScript), or a ModelFileError."""
    if torch_state.is_torch_save(path):
        state = retinanet_net.read_state(path)  # + RetinaNet's pickled model, no code run
        if retinanet_net.is_retinanet(state):
            return retinanet_net.build_retinanet(path, state, output_shape)
        if torch_state.kind_of(state) is None and (rnnt := load_rnnt(path)) is not None:
            return rnnt
        found = torch_state.recognise(path, state)  # unknown keys: refused, naming them
        if output_shape:
            found.check_output(output_shape)
        return torch_state.build(found, state)
    net: nn.Module | None = load_digits_cnn(path) or load_resnet50_standin(path)
    if net is None:
        raise ModelFileError(
            f"the pytorch backend cannot run {path}: it is neither a TorchScript file, "
            "nor a ResNet/BERT state dict, nor a built-in model (digits-cnn, "
            "resnet50-standin) in ONNX",
            "Give a file saved with torch.jit.save or the official state dict, or run "
            "ONNX models with --backend onnxruntime.",
        )
    return net


def check(
    path: Path,
    input_shape: tuple[int, ...],
    input_dtype: str,
    output_shape: tuple[int, ...],
) -> None:
    """Before any test: a state dict must be one of the networks built here, and fit the
    task (TorchScript and ONNX files are checked when they load)."""
    if not torch_state.is_torch_save(path):
        return
    state = retinanet_net.read_state(path)
    if retinanet_net.is_retinanet(state):
        retinanet_net.check_retinanet(path, state, input_shape, output_shape)
        return
    if torch_state.kind_of(state) is None and check_rnnt(path, input_shape, output_shape):
        return  # RNN-T: built, every key checked, the task's samples are waveforms
    found = torch_state.recognise(path, state)
    found.check_task(input_shape, output_shape)
    torch_state.build(found, state)  # every key and shape checked (no copy: assign)
