"""The suppression algorithms: greedy, adaptive, Soft- and DIoU-NMS.

Low-level functions share torchvision's signature style and return indices of kept
boxes in decreasing score order:

    greedy_nms(boxes, scores, idxs, iou_threshold)                     -> Tensor[K] int64
    adaptive_nms(boxes, scores, idxs, iou_threshold, densities)        -> Tensor[K] int64
    diou_nms(boxes, scores, idxs, iou_threshold, beta=1.0)             -> Tensor[K] int64
    soft_nms(boxes, scores, idxs, sigma=0.5, ..., densities=None,
             max_picks=None)                                           -> (Tensor[K] int64, Tensor[K] scores)

boxes: Tensor[N, 4] xyxy (pixels), scores: Tensor[N], idxs: Tensor[N] class ids (boxes of
different ids never suppress each other). A box is suppressed when its overlap with a kept,
higher-scored box is *strictly greater* than the threshold, as in ``torchvision.ops.nms``.

Adaptive NMS (Liu, Huang, Wang, "Adaptive NMS: Refining Pedestrian Detection in a Crowd",
CVPR 2019): a kept box M suppresses with threshold N_M = max(N_t, d_M), d_M its predicted
density. torchvision has no per-box thresholds, so adaptive (and DIoU) NMS run here as the
Cluster-NMS fixed point (Zheng et al., "Enhancing Geometric Factors in Model Learning and
Inference", 2021): boxes are grouped by class, sorted by score, and for each group
``keep[j] = not any_i<j (keep[i] and overlap(i, j) > thr_i)`` is iterated from all-ones until
it stops changing. Entry j depends only on entries before it, so after t rounds the first t
are final and the fixed point is exactly the sequential result. Groups are padded and
batched; long groups are cut into blocks to bound memory.
"""
from __future__ import annotations

from typing import Callable

import torch
from torchvision.ops import batched_nms

from ..boxes import batched_box_iou, batched_diou

_BLOCK = 2048  # boxes of one group handled in one IoU block
_BUDGET = 1 << 22  # padded pairwise entries per chunk of groups
_EXACT_SHIFT = 2.0 ** 16  # px of batched_nms group shifts below which float32 keeps boxes to 1/256 px


def greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Class-aware greedy NMS (``torchvision.ops.batched_nms``), each group suppressed as if alone.

    ``batched_nms`` keeps groups apart by shifting each one's boxes by idx x (max coordinate + 1).
    With a batch's image x class groups those shifts reach millions of pixels, where float32 keeps
    only 0.1-0.25 px and IoUs near the threshold flip; and a negative coordinate lets a group's
    boxes reach into the next one's range. Group ids are made consecutive, and when the shifted
    extent passes 2^16 px or a coordinate is negative the boxes go in float64, moved to start at 0.
    """
    if boxes.numel() == 0:
        return batched_nms(boxes, scores, idxs, float(iou_threshold))
    _, ranks = torch.unique(idxs, return_inverse=True)
    lo, hi = float(boxes.min()), float(boxes.max())
    if boxes.dtype != torch.float64 and (lo < 0 or (float(ranks.max()) + 1) * (hi + 1) > _EXACT_SHIFT):
        b = boxes.to(torch.float64)
        return batched_nms(b - min(lo, 0.0), scores.to(torch.float64), ranks, float(iou_threshold))
    return batched_nms(boxes, scores, ranks, float(iou_threshold))


def _groups(scores: torch.Tensor, idxs: torch.Tensor):
    """Sort by score (desc, stable), then stably by class: returns (order, perm, group, pos, counts).

    order: Tensor[N] score-descending indices; perm: Tensor[N] indices grouped by class, score-desc
    inside; group / pos: Tensor[N] group number and position inside the group of perm's entries.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    perm = order[torch.argsort(idxs[order], stable=True)]
    _, group, counts = torch.unique_consecutive(idxs[perm], return_inverse=True, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(len(perm), device=perm.device) - starts[group]
    return order, perm, group, pos, counts


def _fixed_point(boxes: torch.Tensor, thr: torch.Tensor, valid: torch.Tensor,
                 pair_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Padded groups: boxes Tensor[G, M, 4], thr/valid Tensor[G, M] -> keep Tensor[G, M] bool."""
    G, M = valid.shape
    keep = torch.zeros_like(valid)
    for s in range(0, M, _BLOCK):
        e = min(s + _BLOCK, M)
        blk = boxes[:, s:e]
        alive = valid[:, s:e].clone()
        if s:  # suppressed by boxes kept in earlier blocks
            over = pair_fn(boxes[:, :s], blk) > thr[:, :s, None]
            alive &= ~(over & keep[:, :s, None]).any(1)
        sup = torch.gt(pair_fn(blk, blk), thr[:, s:e, None]).to(boxes.dtype).triu_(1)  # [G, B, B], i < j
        k = alive
        for _ in range(e - s):
            new = alive & ~(torch.bmm(k.to(boxes.dtype).unsqueeze(1), sup).squeeze(1) > 0)
            if torch.equal(new, k):
                break
            k = new
        keep[:, s:e] = k
    return keep


def _grouped_suppression(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, thr: torch.Tensor,
                         pair_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Exact sequential NMS with per-box thresholds ``thr`` (Tensor[N]) and overlap ``pair_fn``."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order, perm, group, pos, counts = _groups(scores, idxs)
    keep_mask = torch.zeros(len(scores), dtype=torch.bool, device=boxes.device)
    # chunks of groups, largest first, so that padding stays small and memory bounded
    by_size = torch.argsort(counts, descending=True).tolist()
    sizes = counts.tolist()
    rank = torch.empty_like(counts)
    i = 0
    while i < len(by_size):
        m = sizes[by_size[i]]
        per = max(1, _BUDGET // (m * min(m, _BLOCK)))
        chunk = by_size[i:i + per]
        i += len(chunk)
        chunk_t = torch.tensor(chunk, device=boxes.device)
        rank[chunk_t] = torch.arange(len(chunk), device=boxes.device)
        in_chunk = torch.zeros(len(sizes), dtype=torch.bool, device=boxes.device)
        in_chunk[chunk_t] = True
        sel = in_chunk[group].nonzero().squeeze(1)
        r, p, src = rank[group[sel]], pos[sel], perm[sel]
        bp = boxes.new_zeros(len(chunk), m, 4)
        tp = thr.new_zeros(len(chunk), m)
        vp = torch.zeros(len(chunk), m, dtype=torch.bool, device=boxes.device)
        bp[r, p], tp[r, p], vp[r, p] = boxes[src], thr[src], True
        keep_mask[src] = _fixed_point(bp, tp, vp, pair_fn)[r, p]
    return order[keep_mask[order]]


def adaptive_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float,
                 densities: torch.Tensor) -> torch.Tensor:
    """Adaptive NMS: kept box M suppresses same-class boxes with IoU > max(iou_threshold, d_M).

    densities: Tensor[N] predicted density of each box (e.g. in [0, 1]).

    Classes in which no box has a density above ``iou_threshold`` suppress exactly as greedy
    NMS does, so they go to ``torchvision.ops.batched_nms``; only the others need the exact
    per-box-threshold solver. The result is the same either way, only faster.
    """
    thr = torch.clamp(densities.to(boxes.dtype), min=float(iou_threshold))
    raised = thr > float(iou_threshold)
    if not bool(raised.any()):
        return greedy_nms(boxes, scores, idxs, iou_threshold)
    hot = torch.isin(idxs, torch.unique(idxs[raised]))
    if bool(hot.all()):
        return _grouped_suppression(boxes, scores, idxs, thr, batched_box_iou)
    keep = torch.zeros(len(scores), dtype=torch.bool, device=boxes.device)
    cold = (~hot).nonzero().squeeze(1)
    keep[cold[greedy_nms(boxes[cold], scores[cold], idxs[cold], iou_threshold)]] = True
    hot = hot.nonzero().squeeze(1)
    keep[hot[_grouped_suppression(boxes[hot], scores[hot], idxs[hot], thr[hot], batched_box_iou)]] = True
    order = torch.argsort(scores, descending=True, stable=True)
    return order[keep[order]]


def diou_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float,
             beta: float = 1.0) -> torch.Tensor:
    """DIoU-NMS: suppress when IoU - (rho^2 / c^2)^beta > iou_threshold (Zheng et al., AAAI 2020)."""
    thr = torch.full_like(scores, float(iou_threshold), dtype=boxes.dtype)
    return _grouped_suppression(boxes, scores, idxs, thr, lambda a, b: batched_diou(a, b, beta))


def _soft_nms_table(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, densities: torch.Tensor | None,
                    iou_threshold: float, score_threshold: float):
    """Soft-NMS's working table, one row per class group, boxes in decreasing score order:
    (perm, group, pos: where each sorted box sits; boxes [G, M, 4]; the threshold each box suppresses
    with [G, M]; work [G, M]: the scores still in play, -inf elsewhere (padding, or at the threshold or below)).
    Each round then works on fixed [rows, M] tensors; rows whose group has run out are dropped once they are
    half of them (many small class groups beside one large one)."""
    _, perm, group, pos, counts = _groups(scores, idxs)
    G, M = len(counts), int(counts.max())
    bp = boxes.new_zeros(G, M, 4)
    sp = scores.new_zeros(G, M)
    bp[group, pos], sp[group, pos] = boxes[perm], scores[perm]
    tp = sp.new_full((G, M), float(iou_threshold))
    if densities is not None:
        tp[group, pos] = torch.clamp(densities[perm].to(sp.dtype), min=float(iou_threshold))
    neg_inf = float("-inf")
    work = sp.new_full((G, M), neg_inf)
    work[group, pos] = torch.where(scores[perm] > score_threshold, scores[perm], neg_inf)
    return perm, group, pos, bp, tp, work


def soft_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, sigma: float = 0.5,
             iou_threshold: float = 0.3, score_threshold: float = 0.001, method: str = "gaussian",
             densities: torch.Tensor | None = None,
             max_picks: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-NMS (Bodla et al., ICCV 2017). Repeatedly take the highest-scored remaining box of
    each class and decay the others' scores: gaussian ``s *= exp(-IoU^2 / sigma)``, or linear
    ``s *= 1 - IoU`` where IoU > iou_threshold. Boxes whose score falls to ``score_threshold``
    or below are dropped.

    densities: Tensor[N] or None; with the linear method, the adaptive combination of Liu et al.
    (CVPR 2019, Sec. 3.2): the box M taken decays others only where IoU > max(iou_threshold, d_M).

    max_picks: stop each class group after this many boxes. Decay only lowers scores, so a group's
    picks come in non-increasing score order: its later picks would all rank below the ones
    taken, and a caller keeping at most ``max_picks`` boxes per image would drop them anyway
    (exact up to ties). The loop runs at most ``max_picks`` rounds instead of the largest group's
    size (thousands of candidates at a validation confidence of 0.001).

    Returns (indices Tensor[K] int64, new scores Tensor[K]), in decreasing new-score order.
    """
    if method not in ("gaussian", "linear"):
        raise ValueError(f"soft_nms method must be 'gaussian' or 'linear', got {method!r}")
    if densities is not None and method != "linear":
        raise ValueError("soft_nms: per-box (adaptive) thresholds need method='linear'")
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device), scores.new_empty(0)
    perm, group, pos, bp, tp, work = _soft_nms_table(boxes, scores, idxs, densities, iou_threshold, score_threshold)
    G, M = work.shape
    neg_inf = float("-inf")
    x1, y1, x2, y2 = bp.unbind(-1)  # [G, M] each
    area = (x2 - x1) * (y2 - y1)  # as torchvision.ops.box_iou, so IoUs are bit-identical
    rows = torch.arange(G, device=boxes.device)  # the group of each row
    picked_g, picked_p, picked_s = [], [], []
    rounds = M if max_picks is None else min(M, max(int(max_picks), 0))
    for _ in range(rounds):
        live = (work > neg_inf).any(1)
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live <= len(rows) // 2:
            rows, work, x1, y1, x2, y2, area, tp = (t[live] for t in (rows, work, x1, y1, x2, y2, area, tp))
        val, best = work.max(1)  # ties go to the earlier (higher original score) box
        picked_g.append(rows)
        picked_p.append(best)
        picked_s.append(val)
        b = best[:, None]
        work.scatter_(1, b, neg_inf)
        w = torch.min(x2, x2.gather(1, b)).sub_(torch.max(x1, x1.gather(1, b)))
        h = torch.min(y2, y2.gather(1, b)).sub_(torch.max(y1, y1.gather(1, b)))
        inter = w.clamp_(min=0).mul_(h.clamp_(min=0))
        iou = inter.div_((area + area.gather(1, b)).sub_(inter)).nan_to_num_(nan=0.0)  # [rows, M]
        if method == "gaussian":
            decay = iou.mul_(iou).div_(-sigma).exp_()
        else:
            decay = torch.where(iou > tp.gather(1, b), 1.0 - iou, 1.0)
        work.mul_(decay)  # -inf stays -inf (decay > 0) or becomes nan (decay 0): both out below
        work = torch.where(work > score_threshold, work, neg_inf)
    if not picked_p:
        return torch.empty(0, dtype=torch.int64, device=boxes.device), scores.new_empty(0)
    gs, ps, ss = torch.cat(picked_g), torch.cat(picked_p), torch.cat(picked_s)
    real = ss > neg_inf  # rows whose group had run out that round picked nothing
    gs, ps, ss = gs[real], ps[real], ss[real]
    # map (group, pos) back to original indices
    lookup = torch.full((G, M), -1, dtype=torch.int64, device=boxes.device)
    lookup[group, pos] = perm
    idx = lookup[gs, ps]
    o = torch.argsort(ss, descending=True, stable=True)
    return idx[o], ss[o]
