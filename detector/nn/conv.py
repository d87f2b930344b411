"""Convolution building blocks: Conv (Conv2d + BN + SiLU) and SeparableConv.

Both fold their BatchNorm into the convolution with ``fuse()`` for inference
(``torch.nn.utils.fusion.fuse_conv_bn_eval``).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..registry import MODULES
from .base import LayerContext, check_positive


def autopad(k: int, d: int = 1) -> int:
    """'Same' padding for an odd kernel ``k`` with dilation ``d``."""
    return d * (k - 1) // 2


class _ConvBN(nn.Module):
    """Shared fuse/forward logic for a conv followed by an optional BN and activation."""

    conv: nn.Conv2d
    bn: nn.Module
    act: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        """Fold BN into the conv (eval-mode statistics); idempotent."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn_eval(self.conv.eval(), self.bn.eval())
            self.bn = nn.Identity()


@MODULES.register()
class Conv(_ConvBN):
    """Conv2d(k, s, groups) -> BatchNorm2d -> SiLU (``act=False``: no activation).

    YAML: ``[from, 1, Conv, [c_out, k=1, s=1, g=1]]``; ``c_out`` is width-scaled.
    """

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, d: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, d), dilation=d, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    @classmethod
    def from_yaml(cls, ctx: LayerContext, c_out: int, k: int = 1, s: int = 1, g: int = 1):
        check_positive(k=k, s=s, g=g)
        c2 = ctx.ch(c_out)
        if ctx.c1 % g or c2 % g:
            raise ValueError(f"groups g={g} must divide the input ({ctx.c1}) and output ({c2}) channels")
        return cls(ctx.c1, c2, k, s, g), c2


@MODULES.register()
class SeparableConv(_ConvBN):
    """Depthwise k x k conv -> pointwise 1x1 conv -> BN (-> SiLU if ``act``), as in EfficientDet.

    YAML: ``[from, 1, SeparableConv, [c_out, k=3, s=1]]``.
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, act: bool = False):
        super().__init__()
        self.dw = nn.Conv2d(c1, c1, k, s, autopad(k), groups=c1, bias=False)
        self.conv = nn.Conv2d(c1, c2, 1, bias=True)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(self.dw(x))))

    @classmethod
    def from_yaml(cls, ctx: LayerContext, c_out: int, k: int = 3, s: int = 1):
        check_positive(k=k, s=s)
        c2 = ctx.ch(c_out)
        return cls(ctx.c1, c2, k, s, act=True), c2
