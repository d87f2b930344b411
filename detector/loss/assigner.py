"""Task-aligned label assignment (Feng et al., "TOOD: Task-aligned One-stage Object Detection",
ICCV 2021), as used by YOLOv8: for each ground truth, the top-k anchors (centres inside the box)
by alignment t = s^alpha * IoU^beta become positives (``ciou=True``: CIoU in place of IoU, as
Ultralytics' YOLOv8 assigner does); an anchor claimed by several ground truths
goes to the one it overlaps most. Crowd regions yield an ignore mask: anchors inside them that
are not positives count neither as positives nor as negatives.

Why IoU by default, although YOLOv8 and TOOD's code use CIoU: measured, CIoU did not help. A/B on the
held-out synthetic task (20 epochs, 320 px, batch 16, seeds 0-2, docs/results/ablation.md): yolo_base +0.010
mAP50-95 [95 % CI -0.031, +0.052], higher in 2/3 seeds; yolo_ca_bifpn -0.011 [-0.061, +0.039], higher
in 1/3. No consistent gain, so the plain, cheaper overlap stays; ``tal_ciou: true`` switches.
"""
from __future__ import annotations

import torch
from torchvision.ops import complete_box_iou_loss

from ..hyp import AssignerHyp
from ..ops.boxes import batched_box_iou


def points_in_boxes(points: torch.Tensor, boxes: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """points: Tensor[N, 2], boxes: Tensor[B, M, 4] xyxy -> Tensor[B, M, N] bool (strictly inside)."""
    lt = points[None, None] - boxes[..., None, :2]
    rb = boxes[..., None, 2:] - points[None, None]
    return torch.cat([lt, rb], -1).amin(-1) > eps


class TaskAlignedAssigner:
    def __init__(self, topk: int = AssignerHyp.tal_topk, alpha: float = AssignerHyp.tal_alpha,
                 beta: float = AssignerHyp.tal_beta, eps: float = 1e-9, ciou: bool = AssignerHyp.tal_ciou):
        self.topk, self.alpha, self.beta, self.eps, self.ciou = topk, alpha, beta, eps, ciou

    def overlaps(self, gt_boxes: torch.Tensor, pd_boxes: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        """gt_boxes: Tensor[B, M, 4], pd_boxes: Tensor[B, N, 4] xyxy, inside: Tensor[B, M, N] bool ->
        Tensor[B, M, N]: IoU (or CIoU) clamped to [0, 1] where ``inside``, 0 elsewhere."""
        if not self.ciou:
            return batched_box_iou(gt_boxes, pd_boxes).nan_to_num_(0.0).clamp_(0) * inside
        B, M, N = inside.shape
        out = torch.zeros(B, M, N, dtype=pd_boxes.dtype, device=pd_boxes.device)
        b, m, n = inside.nonzero(as_tuple=True)
        if b.numel():
            c = 1.0 - complete_box_iou_loss(gt_boxes[b, m].float(), pd_boxes[b, n].float(), reduction="none")
            out[b, m, n] = c.nan_to_num_(0.0).clamp_(0).to(out.dtype)
        return out

    @torch.no_grad()
    def __call__(self, pd_scores: torch.Tensor, pd_boxes: torch.Tensor, points: torch.Tensor, gt_labels: torch.Tensor,
                 gt_boxes: torch.Tensor, gt_mask: torch.Tensor, crowd_boxes: torch.Tensor | None = None,
                 crowd_mask: torch.Tensor | None = None):
        """
        pd_scores: Tensor[B, N, C] class probabilities; pd_boxes: Tensor[B, N, 4] xyxy (pixels);
        points: Tensor[N, 2] anchor centres (pixels); gt_labels: Tensor[B, M] int64; gt_boxes:
        Tensor[B, M, 4]; gt_mask: Tensor[B, M] bool (padding off); crowd_boxes: Tensor[B, K, 4] with
        crowd_mask Tensor[B, K] bool.

        Returns target_labels Tensor[B, N], target_boxes Tensor[B, N, 4], target_scores Tensor[B, N, C]
        (one-hot scaled by the normalized alignment), fg_mask Tensor[B, N] bool, target_gt_idx
        Tensor[B, N] int64 and ignore Tensor[B, N] bool (crowd, not positive).
        """
        B, N, C = pd_scores.shape
        M = gt_boxes.shape[1]
        dev = pd_scores.device
        ignore = torch.zeros(B, N, dtype=torch.bool, device=dev)
        if crowd_boxes is not None and crowd_boxes.shape[1]:
            ignore = (points_in_boxes(points, crowd_boxes) & crowd_mask[..., None]).any(1)
        if M == 0:
            return (torch.zeros(B, N, dtype=torch.long, device=dev), torch.zeros(B, N, 4, device=dev),
                    torch.zeros_like(pd_scores), torch.zeros(B, N, dtype=torch.bool, device=dev),
                    torch.zeros(B, N, dtype=torch.long, device=dev), ignore)
        inside = points_in_boxes(points, gt_boxes) & gt_mask[..., None]  # [B, M, N]
        iou = self.overlaps(gt_boxes, pd_boxes, inside)  # [B, M, N]
        cls_idx = gt_labels.clamp(0, C - 1)[..., None].expand(B, M, N)
        scores = pd_scores.transpose(1, 2).gather(1, cls_idx)  # [B, M, N]: score of the gt's class
        align = scores.pow(self.alpha) * iou.pow(self.beta) * inside
        k = min(self.topk, N)
        top = align.topk(k, dim=-1).indices  # [B, M, k]
        mask_top = torch.zeros_like(inside).scatter_(-1, top, True)
        pos = mask_top & inside & (align > 0)
        # an anchor claimed by several ground truths keeps the one it overlaps most
        multi = pos.sum(1) > 1  # [B, N]
        if multi.any():
            best = iou.masked_fill(~pos, -1).argmax(1)  # [B, N]
            one = torch.zeros_like(pos).scatter_(1, best[:, None], True)
            pos = torch.where(multi[:, None], pos & one, pos)
        fg = pos.any(1)
        gt_idx = pos.float().argmax(1)  # [B, N]
        labels = gt_labels.gather(1, gt_idx)
        boxes = gt_boxes.gather(1, gt_idx[..., None].expand(B, N, 4))
        align = align * pos
        norm = (align * iou.masked_fill(~pos, 0).amax(-1, keepdim=True) /
                (align.amax(-1, keepdim=True) + self.eps)).amax(1)  # [B, N]
        target_scores = torch.zeros_like(pd_scores)
        target_scores.scatter_(-1, labels.clamp(0, C - 1)[..., None], (norm * fg)[..., None].to(pd_scores.dtype))
        return labels, boxes, target_scores, fg, gt_idx, ignore & ~fg
