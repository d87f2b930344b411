"""General blocks: Bottleneck, C2f (CSP with two convs, YOLOv8 style), SPPF, Concat, Upsample, Identity."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import MODULES
from .base import LayerContext, check_positive
from .conv import Conv


def resize_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Nearest-resize ``x`` to ``ref``'s spatial size (returned as is when equal)."""
    return x if x.shape[-2:] == ref.shape[-2:] else F.interpolate(x, size=ref.shape[-2:], mode="nearest")


class Bottleneck(nn.Module):
    """Two k x k Convs with an optional residual (used inside C2f, C3k2, C3k)."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5, k: int = 3):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k)
        self.cv2 = Conv(c_, c2, k)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


@MODULES.register()
class C2f(nn.Module):
    """CSP bottleneck with two convolutions (Wang et al., CSPNet; the YOLOv8 'C2f' layout).

    cv1 splits the input into two halves; ``n`` bottlenecks run on the second half,
    each output kept; everything is concatenated and mixed by cv2.

    YAML: ``[from, n, C2f, [c_out, shortcut=False]]``; ``n`` is depth-scaled.
    """

    consumes_repeats = True

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, e: float = 0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, e=1.0) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))

    @classmethod
    def from_yaml(cls, ctx: LayerContext, c_out: int, shortcut: bool = False):
        c2 = ctx.ch(c_out)
        return cls(ctx.c1, c2, ctx.n, bool(shortcut)), c2


@MODULES.register()
class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: ``n`` chained k x k max-pools, concatenated (YOLOv5).

    YOLO26's form: no activation after ``cv1`` (``act1=False``) and a residual around the block
    (``shortcut=True``, when input and output widths agree).

    YAML: ``[from, 1, SPPF, [c_out, k=5, n=3, shortcut=False, act1=True]]``.
    """

    def __init__(self, c1: int, c2: int, k: int = 5, n: int = 3, shortcut: bool = False, act1: bool = True):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, act=act1)
        self.cv2 = Conv(c_ * (n + 1), c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)
        self.n, self.add = n, bool(shortcut) and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(self.n):
            y.append(self.m(y[-1]))
        y = self.cv2(torch.cat(y, 1))
        return x + y if self.add else y

    @classmethod
    def from_yaml(cls, ctx: LayerContext, c_out: int, k: int = 5, n: int = 3, shortcut: bool = False,
                  act1: bool = True):
        check_positive(k=k, n=n)
        c2 = ctx.ch(c_out)
        return cls(ctx.c1, c2, k, n, bool(shortcut), bool(act1)), c2


@MODULES.register()
class Concat(nn.Module):
    """Concatenate the inputs along channels; inputs of different size are resized
    (nearest) to the first one's, so odd image sizes work.

    YAML: ``[[-1, 6], 1, Concat, []]``.
    """

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([resize_to(x, xs[0]) for x in xs], 1)

    @classmethod
    def from_yaml(cls, ctx: LayerContext):
        if len(ctx.c_in) < 2:
            raise ValueError(f"needs at least two inputs, got {len(ctx.c_in)}")
        return cls(), sum(ctx.c_in)


@MODULES.register()
class Upsample(nn.Module):
    """Nearest-neighbour upsampling by an integer factor.

    YAML: ``[-1, 1, Upsample, [scale=2]]`` (``[None, 2, 'nearest']`` as in YOLOv5 files also works).
    """

    def __init__(self, scale: int = 2, mode: str = "nearest"):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.scale, self.mode = int(scale), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode=self.mode)

    @classmethod
    def from_yaml(cls, ctx: LayerContext, *args):
        if args and args[0] is None:  # YOLOv5 form [None, 2, 'nearest']
            args = args[1:]
        if len(args) > 2:
            raise TypeError(f"takes [scale=2, mode='nearest'], got {list(args)}")
        if args:
            check_positive(scale=args[0])
        return cls(*args), ctx.c1


@MODULES.register()
class Identity(nn.Identity):
    """Pass-through; the 'no attention' entry of the ablation configs.

    YAML: ``[-1, 1, Identity, []]``; it takes no args, like every attention
    block with its defaults, so it can stand wherever one stands.
    """

    @classmethod
    def from_yaml(cls, ctx: LayerContext):
        return cls(), ctx.c1
