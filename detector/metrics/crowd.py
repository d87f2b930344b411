"""Crowd metrics read from pycocotools' own matching of an evaluated ``COCOeval``.

- **Overlap buckets**: each non-crowd ground-truth box gets its highest IoU with another ground-truth
  box of its class in its image (:func:`max_same_class_iou`); recall at IoU 0.5 and AP50 are reported per
  bucket (``< 0.3``, ``0.3-0.5``, ``0.5-0.7``, ``>= 0.7``). A bucket's AP50 counts as true positives the
  detections matched (at IoU 0.5, by COCOeval, over all ground truth) to that bucket's boxes, as false
  positives the unmatched detections, and leaves out the detections matched to other buckets' boxes: the
  usual "other objects are ignore regions" protocol of subset APs, with one matching for all buckets.
  AP is COCO's 101-point interpolated precision.
- **MR⁻²** (Dollár et al., PAMI 2012; the CityPersons / CrowdHuman metric): the log-average miss rate
  over 9 false-positives-per-image points evenly spaced in log space in [10⁻², 10⁰]. The miss rate at a
  reference FPPI is the one of the last operating point (all detections above a score) whose FPPI does
  not exceed it; the curve starts at (FPPI 0, miss rate 1). Computed for single-class tasks (the measure is
  defined for one class), with the matching at IoU 0.5, up to 100 detections per image, ignore regions
  (``iscrowd``) neither hits nor false positives.
"""
from __future__ import annotations

import numpy as np
import torch
from pycocotools.cocoeval import COCOeval

BUCKETS = ((0.0, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.01))
MR_REFS = np.logspace(-2.0, 0.0, 9)


def bucket_name(lo: float, hi: float) -> str:
    return f"<{hi:g}" if lo == 0 else (f">={lo:g}" if hi > 1 else f"{lo:g}-{hi:g}")


def max_same_class_iou(gt, image_ids, cat_ids=None) -> dict[int, float]:
    """Annotation id -> highest IoU with another non-crowd ground-truth box of the same class and image
    (0 for a box alone of its class). ``gt``: a pycocotools COCO; ``cat_ids``: only these categories."""
    from torchvision.ops import box_iou

    cats = None if cat_ids is None else set(cat_ids)
    out: dict[int, float] = {}
    for i in image_ids:
        by_cat: dict[int, list[dict]] = {}
        for a in gt.imgToAnns.get(i, []):
            if not a.get("iscrowd", 0) and (cats is None or a["category_id"] in cats):
                by_cat.setdefault(a["category_id"], []).append(a)
        for anns in by_cat.values():
            if len(anns) < 2:
                out.update((a["id"], 0.0) for a in anns)
                continue
            b = torch.tensor([a["bbox"] for a in anns], dtype=torch.float64)
            b[:, 2:] += b[:, :2]
            m = box_iou(b, b).fill_diagonal_(0).amax(1)
            out.update((a["id"], float(v)) for a, v in zip(anns, m.tolist()))
    return out


def coco_ap(tp: np.ndarray, n_gt: int) -> float:
    """COCO's 101-point interpolated AP of detections sorted by descending score (``tp`` bool [K])."""
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    prec = np.maximum.accumulate(prec[::-1])[::-1]  # precision envelope
    rs = np.linspace(0.0, 1.0, 101)
    idx = np.searchsorted(rec, rs, side="left")
    q = np.where(idx < len(prec), prec[np.minimum(idx, len(prec) - 1)], 0.0)
    return float(q.mean())


def _matches(ev: COCOeval):
    """Per evaluated (image, category) at IoU 0.5, area all, the last maxDets: yields
    (dt scores, dt matched gt id (0: none), dt ignored, gt ids, gt ignored)."""
    a_all = ev.params.areaRng[0]
    max_det = ev.params.maxDets[-1]
    for e in ev.evalImgs:
        if e is None or e["aRng"] != a_all or e["maxDet"] != max_det:
            continue
        nd = len(e["dtIds"])
        dm = np.asarray(e["dtMatches"]).reshape(len(ev.params.iouThrs), nd)[0] if nd else np.zeros(0)
        di = np.asarray(e["dtIgnore"]).reshape(len(ev.params.iouThrs), nd)[0].astype(bool) if nd else np.zeros(0, bool)
        yield (np.asarray(e["dtScores"], np.float64), dm, di, list(e["gtIds"]), np.asarray(e["gtIgnore"], bool),
               e["image_id"], e["category_id"])


def match_table(ev: COCOeval, max_iou: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """One pass over pycocotools' matching (IoU 0.5, area all, last maxDets): (per detection in descending
    score order, the highest same-class IoU of the ground truth it matched, -1 when unmatched;
    per non-ignored ground-truth box, its highest same-class IoU). Ignored detections are left out."""
    scores, owner, gt = [], [], []
    for s, dm, di, gids, gign, _, _ in _matches(ev):
        gt.extend(max_iou.get(g, 0.0) for g, ign in zip(gids, gign) if not ign)
        scores.extend(s[~di].tolist())
        owner.extend(max_iou.get(int(m), 0.0) if m > 0 else -1.0 for m in dm[~di])
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    return np.asarray(owner, np.float64)[order], np.asarray(gt, np.float64)


def overlap_buckets(ev: COCOeval, max_iou: dict[int, float], buckets=BUCKETS, table=None) -> dict:
    """{bucket name: {"gt": n, "recall50": r, "AP50": ap}} over all scored categories pooled (for one
    class this is the class's figure; for several, a pooled rather than class-mean figure). ``buckets``:
    [lo, hi) ranges of the highest same-class IoU; detections matched to ground truth outside a bucket
    are left out of its AP. ``table``: a :func:`match_table` already made (one pass for several calls)."""
    owner, gt = table if table is not None else match_table(ev, max_iou)
    out = {}
    for lo, hi in buckets:
        n = int(((gt >= lo) & (gt < hi)).sum())
        mine = (owner >= lo) & (owner < hi)
        sel = mine | (owner == -1)
        out[bucket_name(lo, hi)] = {"gt": n, "recall50": float(mine.sum() / n) if n else float("nan"),
                                    "AP50": coco_ap(mine[sel], n)}
    return out


def log_average_miss_rate(tp: np.ndarray, n_gt: int, n_images: int, refs: np.ndarray = MR_REFS) -> float:
    """MR⁻² of detections sorted by descending score (``tp`` bool [K]) over ``n_images`` images holding
    ``n_gt`` (non-ignored) ground-truth boxes (module doc)."""
    if n_gt == 0 or n_images == 0:
        return float("nan")
    fppi = np.concatenate([[0.0], np.cumsum(~tp) / n_images])
    miss = np.concatenate([[1.0], 1.0 - np.cumsum(tp) / n_gt])
    mr = []
    for r in refs:
        j = np.nonzero(fppi <= r)[0]
        mr.append(miss[j[-1]])
    return float(np.exp(np.mean(np.log(np.maximum(mr, 1e-10)))))


def miss_rate_mr2(ev: COCOeval) -> float:
    """MR⁻² of an evaluated single-class ``COCOeval`` (NaN when several categories are scored)."""
    if ev.params.useCats and len(ev.params.catIds) != 1:
        return float("nan")
    scores, tps, n_gt = [], [], 0
    for s, dm, di, _, gign, _, _ in _matches(ev):
        n_gt += int((~gign).sum())
        scores.extend(s[~di].tolist())
        tps.extend((dm[~di] > 0).tolist())
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    return log_average_miss_rate(np.asarray(tps, bool)[order], n_gt, len(ev.params.imgIds))
