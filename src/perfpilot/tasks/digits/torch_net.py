"""digits-cnn as a torch module, its weights read from the built-in model's ONNX file.

The architecture mirrors ``perfpilot.tasks.digits.model.to_onnx_bytes``; torch cannot run
ONNX itself, so the pytorch backend rebuilds the network and copies the initializers in,
which lets it run the very weights that onnxruntime runs. Imported only by the backend's
``load``, so torch is never imported for listing or ``--help``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from perfpilot.tasks.digits.graph import onnx_digits_weights

# perfpilot.tasks.digits.graph checks the file is digits-cnn node by node.
_SIDE = 8  # input images are 8x8; the 2x2 pool leaves 4x4 per channel


class DigitsCnn(nn.Module):
    """conv3x3-relu, conv3x3-relu, maxpool2, flatten, linear-relu, linear."""

    def __init__(self, c1: int, c2: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(c2 * (_SIDE // 2) ** 2, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, kernel_size=2, stride=2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        out: torch.Tensor = self.fc2(x)
        return out


def load_digits_cnn(path: Path) -> DigitsCnn | None:
    """digits-cnn with the weights of the ONNX file ``path``, or None if ``path`` is not
    the built-in digits model (any width of its layers is accepted)."""
    weights = onnx_digits_weights(path)
    if weights is None:
        return None
    c1, c2 = weights["conv1.weight"].shape[0], weights["conv2.weight"].shape[0]
    hidden, classes = weights["fc1.weight"].shape[0], weights["fc2.weight"].shape[0]
    net = DigitsCnn(c1, c2, hidden, classes)
    expected = net.state_dict()
    if set(weights) != set(expected) or any(
        weights[k].shape != tuple(v.shape) for k, v in expected.items()
    ):
        return None
    # Copies: the tensors must own their memory, not borrow the parsed protobuf's.
    net.load_state_dict({k: torch.from_numpy(np.array(v, np.float32)) for k, v in weights.items()})
    return net.eval()
