"""PAN-FPN neck (Liu et al., "Path Aggregation Network", CVPR 2018) in the YOLOv8
layout with concatenation fusion: the baseline neck the BiFPN is compared with.

One YAML node, same interface as ``BiFPN`` so the two swap by name:
``[[p3, p4, p5], repeats, PAN, [width]]`` -> outputs P3, P4, P5 with
``width``, ``2*width``, ``4*width`` channels (each width-scaled and capped);
``repeats`` (depth-scaled) is the bottleneck count of each C2f.
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import MODULES
from .base import LayerContext
from .blocks import C2f, resize_to
from .conv import Conv


def _cat_resized(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Concatenate ``a`` (nearest-resized to ``b``'s size) and ``b`` along channels."""
    return torch.cat([resize_to(a, b), b], 1)


@MODULES.register()
class PAN(nn.Module):
    """Top-down (upsample + concat + C2f) then bottom-up (3x3/2 conv + concat + C2f)."""

    consumes_repeats = True

    def __init__(self, c_in: list[int], widths: list[int], n: int = 1):
        super().__init__()
        if len(c_in) != 3:
            raise ValueError(f"takes exactly three inputs (P3, P4, P5), got {len(c_in)}")
        (c3, c4, c5), (w3, w4, w5) = c_in, widths
        self.td4 = C2f(c5 + c4, w4, n)
        self.out3 = C2f(w4 + c3, w3, n)
        self.down3 = Conv(w3, w3, 3, 2)
        self.out4 = C2f(w3 + w4, w4, n)
        self.down4 = Conv(w4, w4, 3, 2)
        self.out5 = C2f(w4 + c5, w5, n)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = xs
        t4 = self.td4(_cat_resized(p5, p4))
        o3 = self.out3(_cat_resized(t4, p3))
        o4 = self.out4(_cat_resized(self.down3(o3), t4))
        o5 = self.out5(_cat_resized(self.down4(o4), p5))
        return [o3, o4, o5]

    @classmethod
    def from_yaml(cls, ctx: LayerContext, width: int):
        widths = [ctx.ch(width), ctx.ch(2 * width), ctx.ch(4 * width)]
        return cls(list(ctx.c_in), widths, ctx.n), widths
