"""Decoding raw head outputs into boxes, class scores and densities.

Raw per-level layout (see ``detector.nn.heads.Detect``):
Tensor[B, 4*R + nc + 1, H, W] = [DFL box logits (4 sides x R bins) | class logits | density logit].
"""
from __future__ import annotations

import torch


def make_anchors(shapes: list[tuple[int, int]], strides: list[float] | torch.Tensor, offset: float = 0.5,
                 device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell-centre points of every level.

    Returns (points: Tensor[N, 2] as (x, y) in grid units of each level, strides: Tensor[N, 1]),
    N = sum(H_l * W_l), levels in order, row-major inside a level.
    """
    pts, strs = [], []
    for (h, w), s in zip(shapes, strides):
        sy = torch.arange(h, device=device, dtype=dtype) + offset
        sx = torch.arange(w, device=device, dtype=dtype) + offset
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        pts.append(torch.stack((xx, yy), -1).view(-1, 2))
        strs.append(torch.full((h * w, 1), float(s), device=device, dtype=dtype))
    return torch.cat(pts), torch.cat(strs)


def flatten_levels(raw: list[torch.Tensor]) -> torch.Tensor:
    """list of Tensor[B, C, H_l, W_l] -> Tensor[B, N, C] (levels concatenated)."""
    return torch.cat([r.flatten(2) for r in raw], 2).transpose(1, 2)


def split_columns(t: torch.Tensor, layout: dict[str, int]) -> dict[str, torch.Tensor]:
    """Tensor[..., C] -> {name: Tensor[..., width]} by an ordered layout {name: width} whose widths sum to C
    (a head's ``raw_layout`` or ``decoded_layout``)."""
    widths = [int(w) for w in layout.values()]
    if sum(widths) != t.shape[-1]:
        raise ValueError(f"the layout {dict(layout)} has {sum(widths)} columns, the tensor {t.shape[-1]}")
    return dict(zip(layout, t.split(widths, dim=-1)))


def column_slices(layout: dict[str, int]) -> dict[str, slice]:
    """An ordered layout {name: width} -> {name: slice of its columns} (for indexing inside exported graphs,
    where a plain slice stays a plain ONNX Slice)."""
    out, o = {}, 0
    for name, w in layout.items():
        out[name] = slice(o or None, o + int(w))
        o += int(w)
    return out


def split_outputs(flat: torch.Tensor, reg_max: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tensor[B, N, 4R + nc + 1] -> (box logits [B, N, 4R], class logits [B, N, nc], density logits [B, N, 1])."""
    nc = flat.shape[-1] - 4 * reg_max - 1
    return flat.split((4 * reg_max, nc, 1), dim=-1)


def dfl_to_distance(box_logits: torch.Tensor, reg_max: int) -> torch.Tensor:
    """Expected value of each side's bin distribution.

    box_logits: Tensor[..., 4*R] -> Tensor[..., 4] (left, top, right, bottom) in grid units. With R = 1
    (no DFL, YOLO26) the four channels are the distances themselves.
    """
    if reg_max == 1:
        return box_logits
    shape = box_logits.shape[:-1]
    prob = box_logits.reshape(*shape, 4, reg_max).softmax(-1)
    bins = torch.arange(reg_max, device=box_logits.device, dtype=prob.dtype)
    return (prob * bins).sum(-1)


def distance_to_xyxy(dist: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """dist: Tensor[..., N, 4] ltrb, points: Tensor[N, 2] -> Tensor[..., N, 4] xyxy (same units)."""
    lt, rb = dist.split(2, dim=-1)
    return torch.cat((points - lt, points + rb), -1)


def xyxy_to_distance(boxes: torch.Tensor, points: torch.Tensor, reg_max: int) -> torch.Tensor:
    """Inverse of :func:`distance_to_xyxy`, clamped to the representable range [0, R - 1 - 0.01]
    (R = 1, direct distances: only at 0 from below)."""
    x1y1, x2y2 = boxes.split(2, dim=-1)
    d = torch.cat((points - x1y1, x2y2 - points), -1)
    return d.clamp_(min=0) if reg_max == 1 else d.clamp_(0, reg_max - 1 - 0.01)


def decode_outputs(raw: list[torch.Tensor], strides: torch.Tensor | list[float], reg_max: int = 16) -> torch.Tensor:
    """Raw head outputs -> Tensor[B, N, 4 + nc + 1]:
    (x1, y1, x2, y2) in input-image pixels, nc class probabilities (sigmoid), density in [0, 1] (sigmoid).
    """
    flat = flatten_levels(raw)
    box, cls, dens = split_outputs(flat, reg_max)
    points, stride = make_anchors([r.shape[-2:] for r in raw], strides, device=flat.device, dtype=flat.dtype)
    xyxy = distance_to_xyxy(dfl_to_distance(box, reg_max), points) * stride
    return torch.cat((xyxy, cls.sigmoid(), dens.sigmoid()), -1)
