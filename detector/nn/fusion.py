"""How a BiFPN node fuses its (same-shaped) inputs.

Scalar modes — one learned weight per input edge (Tan, Pang, Le, EfficientDet, CVPR 2020):
  - ``fast``: fast normalized fusion  w_i = relu(w_i) / (sum_j relu(w_j) + 1e-4)  (the paper's choice)
  - ``attn``: softmax over the edge weights
  - ``sum``:  plain sum, no weights (ablation)

Per-location modes — the two-path pyramid "with embedded spatial attention":
  - ``spatial``: adaptive spatial feature fusion (Liu, Huang, Wang, "Learning Spatial Fusion for
    Single-Shot Object Detection", 2019, ASFF): each input is compressed by a 1x1 conv (to 8 channels),
    the compressed maps are concatenated and a 1x1 conv gives one logit per input and location; a softmax
    over the inputs gives weights Tensor[B, n, H, W] that sum to 1 at every location. The last conv
    starts at zero, so a fresh node fuses with equal weights 1/n.
  - ``spatial_gate``: ``spatial``, then a spatial-attention gate on the fused map (CBAM's, Woo et al.,
    ECCV 2018: sigmoid of a 7x7 conv over the channel-wise mean and max), which scales each location.

Every mode answers ``normalized_weights()`` (Tensor[n]: for the per-location modes, the mean weight of
each input over the batch and locations of the last forward) so that ``model.fusion_weights()``, the
TensorBoard fusion scalars and results.csv read all modes alike; the per-location modes also keep the
last forward's maps (``last_map``, detached) for ``model.fusion_maps()``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conv import Conv

SCALAR_MODES = ("fast", "attn", "sum")
SPATIAL_MODES = ("spatial", "spatial_gate")
FUSION_MODES = SCALAR_MODES + SPATIAL_MODES


def check_mode(mode: str) -> None:
    if mode not in FUSION_MODES:
        raise ValueError(f"fusion must be one of {FUSION_MODES}, got {mode!r}")


class WeightedFusion(nn.Module):
    """Fuse ``n`` same-shaped tensors with learned non-negative scalar weights (a scalar mode)."""

    def __init__(self, n: int, mode: str = "fast", eps: float = 1e-4):
        super().__init__()
        check_mode(mode)
        if mode not in SCALAR_MODES:
            raise ValueError(f"WeightedFusion takes a scalar mode {SCALAR_MODES}, got {mode!r} (see make_fusion)")
        self.mode, self.eps, self.n = mode, eps, n
        self.weight = nn.Parameter(torch.ones(n)) if mode != "sum" else None

    def normalized_weights(self) -> torch.Tensor:
        """Tensor[n]: the weights each input is multiplied by."""
        if self.weight is None:
            return torch.ones(self.n)
        if self.mode == "attn":
            return self.weight.softmax(0)
        w = F.relu(self.weight)
        return w / (w.sum() + self.eps)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.weight is None:
            return torch.stack(xs, 0).sum(0)
        w = self.normalized_weights()
        out = xs[0] * w[0]
        for i in range(1, len(xs)):
            out = out + xs[i] * w[i]
        return out


class SpatialFusion(nn.Module):
    """Fuse ``n`` tensors Tensor[B, C, H, W] with per-location softmax weights (ASFF), optionally gated
    by spatial attention (``gate=True``). Cost per node: n 1x1 convs C -> 8, one 1x1 conv 8n -> n (and a
    7x7 conv 2 -> 1 with the gate)."""

    def __init__(self, n: int, width: int, gate: bool = False, compress: int = 8, kernel_size: int = 7):
        super().__init__()
        self.n = n
        self.compress = nn.ModuleList(Conv(width, compress, 1) for _ in range(n))
        self.logits = nn.Conv2d(compress * n, n, 1)
        nn.init.zeros_(self.logits.weight)
        nn.init.zeros_(self.logits.bias)
        self.gate = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False) if gate else None
        self.last_map: torch.Tensor | None = None  # Tensor[B, n, H, W] of the last forward, detached

    def weight_map(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Tensor[B, n, H, W]: the softmax weights of each input at each location."""
        return self.logits(torch.cat([c(x) for c, x in zip(self.compress, xs)], 1)).softmax(1)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        w = self.weight_map(xs)
        self.last_map = w.detach()
        out = xs[0] * w[:, 0:1]
        for i in range(1, len(xs)):
            out = out + xs[i] * w[:, i:i + 1]
        if self.gate is not None:
            sa = torch.cat([out.mean(dim=1, keepdim=True), out.amax(dim=1, keepdim=True)], 1)
            out = out * self.gate(sa).sigmoid()
        return out

    def normalized_weights(self) -> torch.Tensor:
        """Tensor[n]: mean weight of each input over the last forward's batch and locations (1/n before any)."""
        if self.last_map is None:
            return torch.full((self.n,), 1.0 / self.n)
        return self.last_map.float().mean(dim=(0, 2, 3)).cpu()


def make_fusion(n: int, width: int, mode: str = "fast") -> nn.Module:
    """The fusion module of a node with ``n`` inputs of ``width`` channels."""
    check_mode(mode)
    if mode in SPATIAL_MODES:
        return SpatialFusion(n, width, gate=mode == "spatial_gate")
    return WeightedFusion(n, mode)
