"""Wrap a DetectionModel so its forward returns decoded predictions (for export and predictors)."""
from __future__ import annotations

import torch
from torch import nn


class DecodedModel(nn.Module):
    """images Tensor[B, 3, H, W] (0..1) -> the head's decoded output, Tensor[B, N, 4 + nc + 1] for ``Detect``:
    xyxy pixels, class probs, density (``model.head.decoded_layout``).

    NMS stays outside (``detector.ops.nms``) so exported graphs stay simple and portable.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.head.decode(self.model(x))
