"""Box ops. Format everywhere inside the package: xyxy in pixels.

2-D box ops come from ``torchvision.ops``; the batched forms below
(``[G, N, 4]`` x ``[G, M, 4]``, one IoU matrix per group) are not offered by
torchvision and follow ``torchvision.ops.box_iou`` operation by operation, so
both give bit-identical IoUs for the same pair.
"""
from __future__ import annotations

import torch
from torchvision.ops import box_area, box_convert, box_iou  # noqa: F401  (re-exported)


def _inter_union(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a: Tensor[..., N, 4], b: Tensor[..., M, 4] -> (inter, union): Tensor[..., N, M].

    x and y extents are computed separately and in place: fewer, smaller temporaries than the
    [..., N, M, 2] form, with the same floating-point operations per pair as torchvision.
    """
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    w = torch.min(a[..., :, None, 2], b[..., None, :, 2]).sub_(torch.max(a[..., :, None, 0], b[..., None, :, 0]))
    h = torch.min(a[..., :, None, 3], b[..., None, :, 3]).sub_(torch.max(a[..., :, None, 1], b[..., None, :, 1]))
    inter = w.clamp_(min=0).mul_(h.clamp_(min=0))
    union = (area_a[..., :, None] + area_b[..., None, :]).sub_(inter)
    return inter, union


def batched_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU per group. a: Tensor[G, N, 4], b: Tensor[G, M, 4] (xyxy) -> Tensor[G, N, M].

    Bit-identical to ``torchvision.ops.box_iou`` on each group (0/0 for two zero-area boxes gives
    NaN, which compares False against any threshold, as in torchvision's NMS kernel).
    """
    inter, union = _inter_union(a, b)
    return inter.div_(union)


def batched_diou(a: torch.Tensor, b: torch.Tensor, beta: float = 1.0, eps: float = 1e-7) -> torch.Tensor:
    """IoU - (rho^2 / c^2)^beta per group (Zheng et al., "Distance-IoU Loss", AAAI 2020).

    a: Tensor[G, N, 4], b: Tensor[G, M, 4] (xyxy) -> Tensor[G, N, M]; rho = distance of the
    centres, c = diagonal of the smallest enclosing box. ``beta=1`` is the paper's penalty.
    """
    inter, union = _inter_union(a, b)
    iou = inter.div_(union)
    ca, cb = (a[..., :2] + a[..., 2:]) / 2, (b[..., :2] + b[..., 2:]) / 2
    dx = ca[..., :, None, 0] - cb[..., None, :, 0]
    dy = ca[..., :, None, 1] - cb[..., None, :, 1]
    rho2 = dx.mul_(dx).add_(dy.mul_(dy))
    cw = torch.max(a[..., :, None, 2], b[..., None, :, 2]).sub_(torch.min(a[..., :, None, 0], b[..., None, :, 0]))
    ch = torch.max(a[..., :, None, 3], b[..., None, :, 3]).sub_(torch.min(a[..., :, None, 1], b[..., None, :, 1]))
    c2 = cw.mul_(cw).add_(ch.mul_(ch)).add_(eps)
    return iou.sub_(rho2.div_(c2).pow_(beta))

