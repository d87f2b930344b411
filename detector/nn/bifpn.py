"""Weighted bi-directional feature pyramid (BiFPN).

Tan, Pang, Le, "EfficientDet: Scalable and Efficient Object Detection", CVPR 2020.

The topology is data: for levels 0..L-1 (finest first) one BiFPN layer has a
top-down node per level L-2..0 and a bottom-up node per level 1..L-1; every
node fuses its inputs with learned per-edge scalar weights. Middle levels get
the extra same-level edge (input -> output) of the paper.

Fusion modes (``fusion`` arg, :mod:`detector.nn.fusion`): ``fast`` (fast normalized fusion, the paper's
choice), ``attn``, ``sum``, and the per-location ``spatial`` / ``spatial_gate`` (adaptive spatial fusion,
optionally gated by spatial attention).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import MODULES
from .base import LayerContext
from .blocks import resize_to
from .conv import Conv, SeparableConv
from .fusion import FUSION_MODES, SpatialFusion, WeightedFusion, check_mode, make_fusion

__all__ = ["BiFPN", "BiFPNLayer", "FUSION_MODES", "SpatialFusion", "WeightedFusion"]

def _down(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """3x3/2 max-pool (EfficientDet's downsample), then match ``ref``'s size."""
    return resize_to(F.max_pool2d(x, 3, 2, 1), ref)


class _Node(nn.Module):
    """fuse(inputs) -> SiLU -> conv (separable or 3x3) -> BN."""

    def __init__(self, n_in: int, width: int, fusion: str, separable: bool):
        super().__init__()
        self.fuse_w = make_fusion(n_in, width, fusion)
        self.act = nn.SiLU()
        self.conv = SeparableConv(width, width, 3) if separable else Conv(width, width, 3, act=False)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(self.act(self.fuse_w(xs)))


def _per_level(width: int | list[int], levels: int, what: str = "levels") -> list[int]:
    """One width for every level, or a list of one per level (its length checked)."""
    w = [int(width)] * levels if isinstance(width, int) else [int(c) for c in width]
    if len(w) != levels:
        raise ValueError(f"width: {len(w)} per-level widths for {levels} {what}")
    return w


def _align(c1: int, c2: int) -> nn.Module:
    """1x1 conv + BN from ``c1`` to ``c2`` channels between levels of different widths; identity when equal."""
    return Conv(c1, c2, 1, act=False) if c1 != c2 else nn.Identity()


class BiFPNLayer(nn.Module):
    """One top-down + bottom-up pass over ``levels`` feature maps: ``width`` channels at every level, or a list
    of per-level widths (finest first), an edge between levels of different widths getting a 1x1 conv + BN
    (at the coarser resolution: before upsampling, after downsampling)."""

    def __init__(self, levels: int, width: int | list[int], fusion: str = "fast", separable: bool = True):
        super().__init__()
        self.levels = levels
        self.widths = w = _per_level(width, levels)
        # top-down node for level l (l = L-2..0): [in_l, up(prev)]
        self.td = nn.ModuleList(_Node(2, w[l], fusion, separable) for l in range(levels - 2, -1, -1))
        # bottom-up node for level l (l = 1..L-1): [in_l, td_l, down(out_{l-1})]; top level has no td_l
        self.bu = nn.ModuleList(
            _Node(3 if l < levels - 1 else 2, w[l], fusion, separable) for l in range(1, levels)
        )
        if len(set(w)) > 1:  # parameter-free for one width: checkpoints of uniform BiFPNs keep their keys
            self.up_align = nn.ModuleList(_align(w[l + 1], w[l]) for l in range(levels - 2, -1, -1))
            self.down_align = nn.ModuleList(_align(w[l - 1], w[l]) for l in range(1, levels))
        else:
            self.up_align = self.down_align = None

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        L = self.levels
        td = [None] * L
        td[L - 1] = xs[L - 1]
        for k, l in enumerate(range(L - 2, -1, -1)):
            prev = td[l + 1] if self.up_align is None else self.up_align[k](td[l + 1])
            td[l] = self.td[k]([xs[l], resize_to(prev, xs[l])])
        outs = [td[0]]
        for l in range(1, L):
            down = _down(outs[-1], xs[l])
            if self.down_align is not None:
                down = self.down_align[l - 1](down)
            ins = [xs[l], td[l], down] if l < L - 1 else [xs[l], down]
            outs.append(self.bu[l - 1](ins))
        return outs


@MODULES.register()
class BiFPN(nn.Module):
    """BiFPN neck as one YAML node: inputs P3, P4, P5 (finest first), outputs the same
    levels (plus ``extra_levels`` coarser ones made inside: P6 = maxpool(P5), P7 = maxpool(P6)),
    with ``width`` channels: one number for every level (EfficientDet's uniform BiFPN), or one per input
    level (e.g. a YOLO neck's 64/128/256 at n, so that a source model's head fits every level; extra levels
    take the last width).

    YAML: ``[[p3, p4, p5], repeats, BiFPN, [width, fusion='fast', separable=True, extra_levels=0]]``
    ``width`` (each entry of a list) is width-scaled; ``repeats`` (depth-scaled) is the number of stacked
    BiFPN layers.
    """

    consumes_repeats = True

    def __init__(self, c_in: list[int], width: int | list[int], repeats: int = 1, fusion: str = "fast",
                 separable: bool = True, extra_levels: int = 0):
        super().__init__()
        if len(c_in) < 2:
            raise ValueError(f"needs at least two input levels, got {len(c_in)}")
        if extra_levels not in (0, 1, 2):
            raise ValueError(f"extra_levels must be 0, 1 or 2, got {extra_levels!r}")
        check_mode(fusion)
        w = _per_level(width, len(c_in), "input levels")
        self.widths = w + [w[-1]] * extra_levels
        self.extra_levels = extra_levels
        self.proj = nn.ModuleList(Conv(c, cw, 1, act=False) for c, cw in zip(c_in, w))
        self.layers = nn.Sequential(
            *(BiFPNLayer(len(self.widths), self.widths, fusion, bool(separable)) for _ in range(repeats))
        )

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        feats = [p(x) for p, x in zip(self.proj, xs)]
        for _ in range(self.extra_levels):
            feats.append(F.max_pool2d(feats[-1], 3, 2, 1))
        return self.layers(feats)

    @classmethod
    def from_yaml(cls, ctx: LayerContext, width: int | list[int], fusion: str = "fast", separable: bool = True,
                  extra_levels: int = 0):
        w = [ctx.ch(c) for c in width] if isinstance(width, (list, tuple)) else ctx.ch(width)  # __init__ checks the count
        m = cls(list(ctx.c_in), w, ctx.n, fusion, separable, extra_levels)
        return m, list(m.widths)
