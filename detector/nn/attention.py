"""Channel/spatial attention blocks. All keep the channel count (out = in), take
only optional hyper-parameters as YAML args, and so replace each other by name.

- ``CoordAtt``: Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network
  Design", CVPR 2021.
- ``SE``: Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018.
- ``CBAM``: Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
- ``ECA``: Wang et al., "ECA-Net: Efficient Channel Attention", CVPR 2020.
- ``SimAM``: Yang et al., "SimAM: A Simple, Parameter-Free Attention Module", ICML 2021.

Pooling is written as means/max over axes (not ``AdaptiveAvgPool2d``) so every
block exports to ONNX and is seen by FLOP counters.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..registry import MODULES
from .base import LayerContext, check_positive


class _SameChannels:
    """YAML contract shared by the attention blocks: ``[from, 1, Name, [hyper-params...]]``; and the way an
    inserted block starts when the weights around it come from a graph without it (:meth:`start_as_identity`)."""

    @classmethod
    def from_yaml(cls, ctx: LayerContext, *args):
        return cls(ctx.c1, *args), ctx.c1

    def start_as_identity(self) -> None:
        """From now on ``out = x + g * (block(x) - x)`` with a learned scalar gate ``g`` (``identity_gate``)
        starting at 0 (as ReZero): the block is an exact identity at step 0, so pretrained features pass through
        it bit for bit, and it learns its share from there (``d out / d g = block(x) - x``). The gate is saved
        in the state dict; loading a state with it re-arms the block (:func:`arm_identity_gates`)."""
        if "identity_gate" in self._parameters:
            return
        self.register_parameter("identity_gate", nn.Parameter(torch.zeros(1)))
        self.register_forward_hook(_gated)


def _gated(module: nn.Module, inputs: tuple, out: torch.Tensor) -> torch.Tensor:
    x = inputs[0]
    return x + module.identity_gate.to(out.dtype) * (out - x)


def arm_identity_gates(model: nn.Module, state: dict) -> list[int]:
    """Re-arm the gate of every layer whose ``layers.N.identity_gate`` is in ``state`` (a checkpoint of a
    model fine-tuned with gated blocks), before the state is loaded; returns those layer indices."""
    armed = []
    for k in state:
        parts = k.split(".")
        if len(parts) == 3 and parts[0] == "layers" and parts[2] == "identity_gate" and parts[1].isdigit():
            layer = model.layers[int(parts[1])]
            if hasattr(layer, "start_as_identity"):
                layer.start_as_identity()
                armed.append(int(parts[1]))
    return armed


@MODULES.register()
class CoordAtt(_SameChannels, nn.Module):
    """Coordinate Attention, as the paper's official code.

    x: Tensor[B, C, H, W] ->
      pool over W (mean) -> Tensor[B, C, H, 1]; pool over H (mean) -> Tensor[B, C, 1, W] -> [B, C, W, 1]
      concat on the spatial axis -> [B, C, H+W, 1] -> 1x1 conv to mip = max(8, C // reduction) -> BN -> h_swish
      split -> a_h = sigmoid(conv_h(.)) [B, C, H, 1], a_w = sigmoid(conv_w(.)) [B, C, 1, W]
    out = x * a_h * a_w   (same shape as x)
    residual=True: out = x + x * a_h * a_w, an identity path beside the gates (YAML ``[32, true]``): the
    plain block scales its input by about sigmoid(0)^2 = 0.25 at init and its gates were seen to stay
    there in short schedules (docs/results/ablation.md); this form is the experiment that asks whether that costs.
    """

    def __init__(self, c1: int, reduction: int = 32, residual: bool = False):
        super().__init__()
        check_positive(reduction=reduction)
        if not isinstance(residual, bool):
            raise ValueError(f"residual must be true or false, got {residual!r}")
        self.residual = residual
        mip = max(8, c1 // int(reduction))
        self.conv1 = nn.Conv2d(c1, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mip, c1, 1)
        self.conv_w = nn.Conv2d(mip, c1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x_h = x.mean(dim=3, keepdim=True)  # [B, C, H, 1]
        x_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # [B, C, W, 1]
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        a_h = self.conv_h(y_h).sigmoid()
        a_w = self.conv_w(y_w.transpose(2, 3)).sigmoid()
        return x + x * a_h * a_w if self.residual else x * a_h * a_w

    def fuse(self) -> None:
        if isinstance(self.bn1, nn.BatchNorm2d):
            self.conv1 = fuse_conv_bn_eval(self.conv1.eval(), self.bn1.eval())
            self.bn1 = nn.Identity()


@MODULES.register()
class SE(_SameChannels, nn.Module):
    """Squeeze-and-Excitation: global mean -> 1x1 (C -> C/r) -> ReLU -> 1x1 -> sigmoid -> scale."""

    def __init__(self, c1: int, reduction: int = 16):
        super().__init__()
        check_positive(reduction=reduction)
        mid = max(8, c1 // int(reduction))
        self.fc1 = nn.Conv2d(c1, mid, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(mid, c1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * self.fc2(self.act(self.fc1(s))).sigmoid()


@MODULES.register()
class CBAM(_SameChannels, nn.Module):
    """CBAM: channel attention (shared MLP on mean- and max-pooled maps) then spatial
    attention (k x k conv on the channel-wise mean and max)."""

    def __init__(self, c1: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        check_positive(reduction=reduction, kernel_size=kernel_size)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        mid = max(8, c1 // int(reduction))
        self.mlp = nn.Sequential(nn.Conv2d(c1, mid, 1, bias=False), nn.ReLU(inplace=True), nn.Conv2d(mid, c1, 1, bias=False))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ca = self.mlp(x.mean(dim=(2, 3), keepdim=True)) + self.mlp(x.amax(dim=(2, 3), keepdim=True))
        x = x * ca.sigmoid()
        sa = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.spatial(sa).sigmoid()


@MODULES.register()
class ECA(_SameChannels, nn.Module):
    """Efficient Channel Attention: global mean -> 1-D conv across channels (adaptive odd
    kernel k = |log2(C)/gamma + b/gamma|) -> sigmoid -> scale. ``k_size=0`` means adaptive."""

    def __init__(self, c1: int, k_size: int = 0, gamma: int = 2, b: int = 1):
        super().__init__()
        if not k_size:
            t = int(abs(math.log2(c1) / gamma + b / gamma))
            k_size = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, k_size, padding=k_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3))  # [B, C]
        y = self.conv(y.unsqueeze(1)).squeeze(1)  # conv across channels
        return x * y.sigmoid()[:, :, None, None]


@MODULES.register()
class SimAM(_SameChannels, nn.Module):
    """SimAM (parameter-free): energy e = (x - mu)^2 / (4 (var + lambda)) + 0.5 per
    position, out = x * sigmoid(e), with var the spatial variance (n = H*W - 1)."""

    def __init__(self, c1: int, e_lambda: float = 1e-4):
        super().__init__()
        self.e_lambda = float(e_lambda)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = max(x.shape[2] * x.shape[3] - 1, 1)
        d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
        e = d / (4 * (d.sum(dim=(2, 3), keepdim=True) / n + self.e_lambda)) + 0.5
        return x * e.sigmoid()
