"""Crowd-density targets for the head's density branch (what adaptive NMS consumes).

For each ground-truth box, d = max IoU with any *other* ground-truth box of the same image
(Liu et al., "Adaptive NMS", CVPR 2019); class-agnostic by default, same-class only with
``per_class=True``. An isolated box has d = 0.
"""
from __future__ import annotations

import torch

from ..ops.boxes import batched_box_iou


def density_targets(gt_boxes: torch.Tensor, gt_mask: torch.Tensor, gt_labels: torch.Tensor | None = None,
                    per_class: bool = False) -> torch.Tensor:
    """gt_boxes: Tensor[B, M, 4] xyxy, gt_mask: Tensor[B, M] bool -> Tensor[B, M] in [0, 1]."""
    B, M = gt_mask.shape
    if M < 2:
        return gt_boxes.new_zeros(B, M)
    iou = batched_box_iou(gt_boxes, gt_boxes).nan_to_num_(0.0)
    valid = gt_mask[:, :, None] & gt_mask[:, None, :]
    valid &= ~torch.eye(M, dtype=torch.bool, device=gt_boxes.device)[None]
    if per_class:
        if gt_labels is None:
            raise ValueError("per_class density needs gt_labels")
        valid &= gt_labels[:, :, None] == gt_labels[:, None, :]
    return (iou * valid).amax(-1).clamp_(0, 1)
