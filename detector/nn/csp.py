"""YOLO11/YOLO26's CSP blocks: C3k2 (a C2f whose inner blocks can be C3k or bottleneck + PSABlock)
and C3k (a C3 of k x k bottlenecks).

Tensor names follow YOLO11/YOLO26 checkpoints (``cv1``, ``cv2``, ``cv3``, ``m.i...``), so converted
weights load by name (``detector.checkpoint.ultralytics``).
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import MODULES
from .base import LayerContext
from .blocks import Bottleneck, C2f
from .conv import Conv
from .psa import PSABlock, psa_heads


class C3k(nn.Module):
    """C3 with ``n`` k x k bottlenecks: cv1 -> bottlenecks, cv2 beside, cv3 mixes both. [B, c1, H, W] -> [B, c2, H, W]."""

    def __init__(self, c1: int, c2: int, n: int = 2, shortcut: bool = True, e: float = 0.5, k: int = 3):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c1, c_, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, e=1.0, k=k) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


def _scale_flag(value, scale: str, name: str) -> bool:
    """A YAML flag that is true/false or the list of scale names it is true for (e.g. ``[m, l, x]``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return scale in value
    raise ValueError(f"{name} must be true, false or a list of scale names, got {value!r}")


@MODULES.register()
class C3k2(C2f):
    """C2f whose ``n`` inner blocks are bottlenecks (``c3k`` false), C3k blocks of two bottlenecks
    (``c3k`` true) or a bottleneck followed by a PSABlock (``attn`` true, YOLO26's last neck block).

    YAML: ``[from, n, C3k2, [c_out, c3k=False, e=0.5, attn=False, shortcut=True]]``; ``c3k`` may be a list
    of scale names it holds for (YOLO11/YOLO26 use C3k at scales m, l, x: ``[m, l, x]``); ``n`` is
    depth-scaled.
    """

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, attn: bool = False,
                 shortcut: bool = True):
        super().__init__(c1, c2, n, shortcut, e)
        if attn:
            blocks = (nn.Sequential(Bottleneck(self.c, self.c, shortcut), PSABlock(self.c, 0.5, psa_heads(self.c)))
                      for _ in range(n))
        elif c3k:
            blocks = (C3k(self.c, self.c, 2, shortcut) for _ in range(n))
        else:
            blocks = (Bottleneck(self.c, self.c, shortcut) for _ in range(n))
        self.m = nn.ModuleList(blocks)

    @classmethod
    def from_yaml(cls, ctx: LayerContext, c_out: int, c3k=False, e: float = 0.5, attn: bool = False,
                  shortcut: bool = True):
        if not isinstance(e, (int, float)) or isinstance(e, bool) or not 0 < e <= 4:
            raise ValueError(f"e must be a number in (0, 4], got {e!r}")
        c2 = ctx.ch(c_out)
        return cls(ctx.c1, c2, ctx.n, _scale_flag(c3k, ctx.scale, "c3k"), float(e), bool(attn), bool(shortcut)), c2
