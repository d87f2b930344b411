"""Are the predicted classes another class order? (A model trained with permuted class ids scores 0.0
with boxes that are right.) A confusion-style check on the most confident detections: each one that
overlaps a ground-truth box (IoU >= 0.5, any class) votes for the pair (predicted class, that box's
class). When the votes agree with the labels for under half of the detections, and a consistent mapping
(each predicted class to its most voted ground-truth class) explains most of them, the mapping is shown.
"""
from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

MIN_VOTES = 10


def class_mapping_hint(gt, dets: np.ndarray, names: dict[int, str], min_votes: int = MIN_VOTES) -> str | None:
    """gt: pycocotools COCO; dets: [K, 7] (image_id, x, y, w, h, score, category_id); names: category id ->
    name. Returns a sentence when the classes look permuted, else None."""
    if len(dets) == 0:
        return None
    top = dets[dets[:, 5] >= np.quantile(dets[:, 5], 0.8)] if len(dets) > 5 * min_votes else dets
    votes: dict[tuple[int, int], int] = {}
    for iid in np.unique(top[:, 0]):
        anns = [a for a in gt.imgToAnns.get(int(iid) if float(iid).is_integer() else iid, []) if not a.get("iscrowd")]
        if not anns:
            continue
        d = top[top[:, 0] == iid]
        g = torch.tensor([a["bbox"] for a in anns], dtype=torch.float64)
        g[:, 2:] += g[:, :2]
        b = torch.tensor(d[:, 1:5], dtype=torch.float64)
        b[:, 2:] += b[:, :2]
        iou, j = box_iou(b, g).max(1)
        for k in (iou >= 0.5).nonzero().flatten().tolist():
            pair = (int(d[k, 6]), int(anns[int(j[k])]["category_id"]))
            votes[pair] = votes.get(pair, 0) + 1
    total = sum(votes.values())
    if total < min_votes:
        return None
    agree = sum(n for (p, g), n in votes.items() if p == g)
    if agree >= 0.5 * total:
        return None
    best: dict[int, tuple[int, int]] = {}
    for (p, g), n in votes.items():
        if n > best.get(p, (None, 0))[1]:
            best[p] = (g, n)
    explained = sum(n for _, n in best.values())
    mapping = {p: g for p, (g, _) in best.items() if p != g}
    if explained < 0.8 * total or not mapping:
        return None
    shown = ", ".join(f"{names.get(p, p)} -> {names.get(g, g)}" for p, g in sorted(mapping.items())[:8])
    return (f"the predicted classes look permuted: of {total} confident detections on ground truth, {agree} carry "
            f"the box's class, and the mapping {shown}{' ...' if len(mapping) > 8 else ''} explains "
            f"{explained / total:.0%} of them (a model trained with another class order or names?)")
