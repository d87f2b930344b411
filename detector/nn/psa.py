"""Position-sensitive attention (YOLO11's C2PSA and the PSABlock inside YOLO26's C3k2).

``PSAttention`` is multi-head self-attention over all H x W positions of a feature map, with 1x1 convs
for the queries, keys and values (keys and queries ``attn_ratio`` as wide as a head's values), a 3x3
depthwise conv on the values as positional encoding, and a 1x1 projection. ``PSABlock`` adds a residual
feed-forward (1x1 conv to twice the width and back) after it. ``C2PSA`` splits the input in two halves as
C2f does, runs ``n`` PSABlocks on one and mixes both back.

The tensor names (``qkv``, ``proj``, ``pe``, ``ffn``, ``cv1``, ``cv2``, ``m``) are the ones YOLO11/YOLO26
checkpoints use, so converted weights load by name (``detector.checkpoint.ultralytics``).
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import MODULES
from .base import LayerContext
from .conv import Conv


class PSAttention(nn.Module):
    """Multi-head self-attention on a feature map: Tensor[B, C, H, W] -> Tensor[B, C, H, W].

    ``num_heads`` must divide ``dim``; each head has ``dim // num_heads`` value channels and
    ``int(head_dim * attn_ratio)`` query/key channels.
    """

    def __init__(self, dim: int, num_heads: int = 8, attn_ratio: float = 0.5):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide the width {dim}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim ** -0.5
        self.qkv = Conv(dim, dim + 2 * self.key_dim * num_heads, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, g=dim, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).view(b, self.num_heads, 2 * self.key_dim + self.head_dim, h * w).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = ((q * self.scale).transpose(-2, -1) @ k).softmax(dim=-1)  # [B, heads, HW, HW]
        y = (v @ attn.transpose(-2, -1)).view(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(y)


class PSABlock(nn.Module):
    """Self-attention then a feed-forward, each with a residual (``shortcut``): [B, C, H, W] -> same."""

    def __init__(self, c: int, attn_ratio: float = 0.5, num_heads: int = 4, shortcut: bool = True):
        super().__init__()
        self.attn = PSAttention(c, num_heads, attn_ratio)
        self.ffn = nn.Sequential(Conv(c, c * 2, 1), Conv(c * 2, c, 1, act=False))
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x) if self.add else self.attn(x)
        return x + self.ffn(x) if self.add else self.ffn(x)


def psa_heads(c: int) -> int:
    """Heads of a PSABlock of width ``c``: one per 64 channels, at least one (YOLO11's rule)."""
    return max(c // 64, 1)


@MODULES.register()
class C2PSA(nn.Module):
    """CSP split with ``n`` PSABlocks on one half (YOLO11's last backbone block). Output width = input.

    YAML: ``[from, n, C2PSA, [c_out]]`` (``c_out`` width-scaled; must equal the input width); ``n`` is
    depth-scaled.
    """

    consumes_repeats = True

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5):
        super().__init__()
        if c1 != c2:
            raise ValueError(f"C2PSA keeps the width: input {c1} != output {c2}")
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, 0.5, psa_heads(self.c)) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))

    @classmethod
    def from_yaml(cls, ctx: LayerContext, c_out: int):
        c2 = ctx.ch(c_out)
        return cls(ctx.c1, c2, ctx.n), c2
