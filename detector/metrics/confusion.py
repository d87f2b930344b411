"""Detection confusion matrix at one IoU threshold (background as the extra last row/column)."""
from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou


class ConfusionMatrix:
    """matrix[pred_class, true_class]; row nc = missed ground truth (FN), column nc = false positive."""

    def __init__(self, nc: int, conf: float = 0.25, iou: float = 0.5):
        self.nc, self.conf, self.iou = nc, conf, iou
        self.matrix = np.zeros((nc + 1, nc + 1), np.int64)

    def update(self, dets: torch.Tensor, gt_boxes: torch.Tensor, gt_classes: torch.Tensor) -> None:
        """dets: Tensor[K, >=6] (xyxy, score, class); gt in the same pixel space."""
        dets = dets[dets[:, 4] > self.conf] if len(dets) else dets
        gc = gt_classes.long().tolist()
        if len(dets) == 0:
            for c in gc:
                self.matrix[self.nc, c] += 1
            return
        pc = dets[:, 5].long().tolist()
        if len(gc) == 0:
            for c in pc:
                self.matrix[c, self.nc] += 1
            return
        iou = box_iou(gt_boxes.float(), dets[:, :4].float())
        gi, di = torch.nonzero(iou > self.iou, as_tuple=True)
        pairs = sorted(zip(iou[gi, di].tolist(), gi.tolist(), di.tolist()), reverse=True)
        used_g, used_d = set(), set()
        for _, g, d in pairs:  # greedy one-to-one matching by IoU
            if g in used_g or d in used_d:
                continue
            used_g.add(g)
            used_d.add(d)
            self.matrix[pc[d], gc[g]] += 1
        for g, c in enumerate(gc):
            if g not in used_g:
                self.matrix[self.nc, c] += 1
        for d, c in enumerate(pc):
            if d not in used_d:
                self.matrix[c, self.nc] += 1
