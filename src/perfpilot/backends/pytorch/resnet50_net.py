"""The ResNet50 v1.5 stand-in as a torch module, its weights read from the stand-in's ONNX.

The graph mirrors ``perfpilot.catalog.standins.resnet50_onnx_bytes`` (batch norm folded
into biased convolutions, stride on each stage's first 3x3, 1001 classes). torch cannot
run ONNX, so the pytorch backend rebuilds the network and copies in the weights that
``perfpilot.catalog.resnet50_graph`` reads, after it has checked that the file is exactly
that graph (another network is refused, never run with the wrong architecture). Imported
only by the backend's ``load``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from perfpilot.catalog.resnet50_graph import STAGES as _STAGES
from perfpilot.catalog.resnet50_graph import read_resnet50_standin
from perfpilot.catalog.standins import RESNET50_CLASSES


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
