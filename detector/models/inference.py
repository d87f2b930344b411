"""Wrap a DetectionModel so its forward returns decoded predictions (for export and predictors)."""
from __future__ import annotations

import torch
from torch import nn

from ..ops.decode import decode_outputs


class DecodedModel(nn.Module):
    """images Tensor[B, 3, H, W] (0..1) -> Tensor[B, N, 4 + nc + 1]: xyxy pixels, class probs, density.

    NMS stays outside (``detector.ops.nms``) so exported graphs stay simple and portable.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.reg_max = model.head.reg_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return decode_outputs(self.model(x), self.model.stride, self.reg_max)
