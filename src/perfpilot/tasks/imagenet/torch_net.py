"""ResNet50 v1.5 as torch modules: the stand-in, its weights read from the stand-in's ONNX,
and TorchVision's ResNet, which the official ``resnet50-19c8e357.pth`` state dict loads into.

The stand-in's graph mirrors ``perfpilot.tasks.imagenet.standin.resnet50_onnx_bytes``
(batch norm folded into biased convolutions, stride on each stage's first 3x3, 1001
classes). torch cannot run ONNX, so the pytorch backend rebuilds the network and copies
in the weights that
``perfpilot.tasks.imagenet.graph`` reads, after it has checked that the file is exactly
that graph (another network is refused, never run with the wrong architecture). Imported
only by the backend's ``load``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from perfpilot.tasks.imagenet.graph import STAGES as _STAGES
from perfpilot.tasks.imagenet.graph import read_resnet50_standin
from perfpilot.tasks.imagenet.standin import RESNET50_CLASSES


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, v1.5) -> 1x1, plus the shortcut (projected when it must be)."""

    def __init__(self, cin: int, width: int, stride: int, project: bool) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(cin, width * 4, 1, stride=stride) if project else None
        self.conv_a = nn.Conv2d(cin, width, 1)
        self.conv_b = nn.Conv2d(width, width, 3, stride=stride, padding=1)
        self.conv_c = nn.Conv2d(width, width * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x if self.shortcut is None else self.shortcut(x)
        y = F.relu(self.conv_a(x))
        y = F.relu(self.conv_b(y))
        return F.relu(self.conv_c(y) + short)


class ResNet50(nn.Module):
    """Outputs ``(ArgMax:0, softmax_tensor:0)`` as the ONNX model orders them."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        blocks: list[nn.Module] = []
        cin = 64
        for width, count, stride in _STAGES:
            for i in range(count):
                blocks.append(Bottleneck(cin, width, stride if i == 0 else 1, project=i == 0))
                cin = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, RESNET50_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.stem(x)), kernel_size=3, stride=2, padding=1)
        x = self.blocks(x)
        logits = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return logits.argmax(dim=1), torch.softmax(logits, dim=1)

    def convs_in_graph_order(self) -> list[nn.Conv2d]:
        """The convolutions in the order the stand-in's ONNX graph lists them."""
        order: list[nn.Conv2d] = [self.stem]
        for block in self.blocks:
            assert isinstance(block, Bottleneck)
            if block.shortcut is not None:
                order.append(block.shortcut)
            order += [block.conv_a, block.conv_b, block.conv_c]
        return order


def load_resnet50_standin(path: Path) -> ResNet50 | None:
    """The stand-in network with the weights of the ONNX file ``path``, or None if
    ``path`` is not the ResNet50 v1.5 stand-in graph."""
    found = read_resnet50_standin(path)
    if found is None:
        return None
    net = ResNet50()
    names = {id(m): name for name, m in net.named_modules()}
    weights: dict[str, np.ndarray] = {"fc.weight": found.fc_weight, "fc.bias": found.fc_bias}
    for conv, (w, b) in zip(net.convs_in_graph_order(), found.convs, strict=True):
        weights[f"{names[id(conv)]}.weight"], weights[f"{names[id(conv)]}.bias"] = w, b
    expected = net.state_dict()
    if set(weights) != set(expected) or any(
        weights[k].shape != tuple(v.shape) for k, v in expected.items()
    ):
        return None
    net.load_state_dict({k: torch.from_numpy(np.array(v, np.float32)) for k, v in weights.items()})
    return net.eval()


# --- TorchVision's ResNet (the official resnet50-19c8e357.pth state dict) ----------------
#
# The MLPerf "resnet50-pytorch" artifact is ``torchvision.models.resnet50().state_dict()``:
# keys conv1.weight, bn1.{weight,bias,running_mean,running_var}, layer{1-4}.{i}.conv{1,2,3}
# .weight, .bn{1,2,3}.*, .downsample.{0,1}.* and fc.{weight,bias}, 1000 classes. The
# modules below carry exactly those names, so the state dict loads as it is, and
# torchvision is never needed. Depth and widths come from the state dict's shapes (the
# official file gives 3-4-6-3 blocks of widths 64-512), so a test can load a small one.

#: Stride of each stage's first block in torchvision's ResNets (v1.5: on its 3x3).
TV_STAGE_STRIDES = (1, 2, 2, 2)
TV_EXPANSION = 4  # a bottleneck's output is 4x its width


class TvBottleneck(nn.Module):
    """TorchVision's ``Bottleneck``: 1x1, 3x3 (strided), 1x1, each with batch norm."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * TV_EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + short)


class TvResNet(nn.Module):
    """TorchVision's bottleneck ResNet; ``forward`` returns the logits ``[N, classes]``
    (the reference post-processes them with argmax, offset 0)."""

    def __init__(
        self, stem: int, widths: tuple[int, ...], blocks: tuple[int, ...], classes: int
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        cin = stem
        for number, (width, count, stride) in enumerate(
            zip(widths, blocks, TV_STAGE_STRIDES, strict=True), 1
        ):
            layer = []
            for i in range(count):
                layer.append(TvBottleneck(cin, width, stride if i == 0 else 1))
                cin = width * TV_EXPANSION
            setattr(self, f"layer{number}", nn.Sequential(*layer))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)
        for number in range(1, len(TV_STAGE_STRIDES) + 1):
            x = getattr(self, f"layer{number}")(x)
        out: torch.Tensor = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return out


def tv_resnet_shape(state: Mapping[str, Any]) -> TvResNetShape:
    """Depth, widths and classes of a torchvision ResNet state dict (its keys' shapes).

    Raises ValueError naming what does not fit a bottleneck ResNet."""
    for key in ("conv1.weight", "fc.weight"):
        if key not in state:
            raise ValueError(f"it has no {key}")
    blocks: list[int] = []
    widths: list[int] = []
    for number in range(1, len(TV_STAGE_STRIDES) + 1):
        count = 0
        while f"layer{number}.{count}.conv1.weight" in state:
            count += 1
        if count == 0:
            raise ValueError(f"it has no layer{number}.0.conv1.weight")
        if f"layer{number}.0.conv3.weight" not in state:
            raise ValueError(
                f"layer{number}.0 has no conv3: basic blocks (ResNet18/34), not the "
                "bottlenecks of ResNet50"
            )
        blocks.append(count)
        widths.append(int(state[f"layer{number}.0.conv1.weight"].shape[0]))
    return TvResNetShape(
        stem=int(state["conv1.weight"].shape[0]),
        widths=tuple(widths),
        blocks=tuple(blocks),
        classes=int(state["fc.weight"].shape[0]),
    )


@dataclass(frozen=True)
class TvResNetShape:
    """What a torchvision ResNet state dict's shapes say about its network."""

    stem: int
    widths: tuple[int, ...]
    blocks: tuple[int, ...]
    classes: int

    def build(self) -> TvResNet:
        return TvResNet(self.stem, self.widths, self.blocks, self.classes)
