"""Copy-paste augmentation (Ghiasi et al., CVPR 2021; crowd placement after "Improving Crowded Object
Detection via Copy-Paste", AAAI 2023): instances of other images pasted with their masks.

Where it runs: on each loaded image (the plain sample and every mosaic tile), before mosaic, affine,
HSV and flips, at the loaded image's scale; so the masks are needed only there, and everything after
works on boxes as before. Only datasets whose labels carry instance masks (COCO ``segmentation``
polygons or RLE, Ultralytics YOLO-seg polygon lines) give donors; datasets without masks train exactly as
before.

Hyperparameters (``cfg/hyp/default.yaml``): ``copy_paste`` the probability that an image gets pastes
(0 = off, the default: not yet measured to help); ``copy_paste_n`` the most instances pasted into one
image (1..n, drawn); ``copy_paste_near`` the probability that a pasted instance goes *beside* an object of
its class already in the image at a box IoU drawn in 0.3-0.8 (crowd mode), else to a random place where it
overlaps no box of its class at IoU >= 0.3 when such a place is found; ``copy_paste_amodal``: see below.

The occlusion rule (every object under a paste, earlier pastes included): its visible fraction is its
mask's pixels left uncovered (objects without a mask: its box's pixels left uncovered). Below
``MIN_VISIBLE`` (0.25) the object is dropped (too little of it is left to be learnt); otherwise it is
kept, and its box **shrinks to the extent of its visible mask** (COCO's convention: boxes enclose the
visible object), or stays the full extent with ``copy_paste_amodal: true`` (CrowdHuman's full-body
convention, as the crowd task's boxes). Objects without a mask keep their box.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils
from torchvision.ops import box_iou

MIN_VISIBLE = 0.25


def box_iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes a [N, 4] and b [M, 4] -> [N, M] numpy (``torchvision.ops.box_iou`` in float64)."""
    return box_iou(torch.as_tensor(np.asarray(a, np.float64)), torch.as_tensor(np.asarray(b, np.float64))).numpy()


def place_beside(rng: np.random.Generator, anchor: np.ndarray, w: float, h: float, W: int, H: int, iou: float,
                 tol: float = 0.08) -> np.ndarray | None:
    """A w x h box beside ``anchor`` (xyxy), bottoms about level, whose IoU with it is closest to ``iou``
    within ``tol``; None when no such box fits in the W x H image."""
    ax1, _, ax2, ay2 = anchor
    y = float(np.clip(ay2 - h + rng.uniform(-0.08, 0.08) * h, 0, max(0.0, H - h)))
    side = 1 if rng.random() < 0.5 else -1
    xs = ax1 + (ax2 - ax1 - w) / 2 + side * np.linspace(0, max(w, ax2 - ax1), 64)
    cand = np.stack([xs, np.full_like(xs, y), xs + w, np.full_like(xs, y + h)], 1)
    ok = (cand[:, 0] >= 0) & (cand[:, 2] <= W)
    if not ok.any():
        return None
    err = np.where(ok, np.abs(box_iou_np(cand, anchor[None])[:, 0] - iou), np.inf)
    k = int(err.argmin())
    return cand[k] if err[k] < tol else None


def place_apart(rng: np.random.Generator, w: float, h: float, W: int, H: int, others: list, tries: int = 10,
                max_iou: float = 0.3) -> np.ndarray:
    """A random w x h box in the W x H image whose IoU with every box of ``others`` is below ``max_iou``:
    the first of ``tries`` random places that is, else the least overlapping of them."""
    best = None
    for _ in range(tries):
        x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        cand = np.array([x, y, x + w, y + h])
        m = box_iou_np(cand[None], np.stack(others)).max() if len(others) else 0.0
        if best is None or m < best[0]:
            best = (m, cand)
        if m < max_iou:
            break
    return best[1]


def instance_mask(segment, scale: tuple[float, float], shape: tuple[int, int], orig: tuple[int, int]) -> np.ndarray:
    """One instance's mask at ``shape`` (h, w): ``segment`` is a list of flat polygons [x1, y1, x2, y2, ...]
    in label coordinates (pixels, or [0, 1] for YOLO-seg) scaled by ``scale`` (sx, sy), or a COCO RLE
    dict (of the ``orig`` (h, w) image) resized."""
    h, w = shape
    if isinstance(segment, dict):
        rle = segment if isinstance(segment.get("counts"), (str, bytes)) else mask_utils.frPyObjects(segment, *orig)
        m = mask_utils.decode(rle)
        return cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) if m.shape != (h, w) else m
    m = np.zeros((h, w), np.uint8)
    polys = [np.round(np.asarray(p, np.float64).reshape(-1, 2) * scale).astype(np.int32) for p in segment]
    cv2.fillPoly(m, [p for p in polys if len(p) >= 3], 1)
    return m


def paste(img: np.ndarray, boxes: np.ndarray, classes: np.ndarray, masks: list, donors: list, rng: np.random.Generator,
          near: float = 0.0, amodal: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste ``donors`` [(crop HxWx3, crop mask HxW uint8, class)] into ``img`` with boxes [N, 4],
    ``classes`` [N] and per-box full-image masks (or None). Returns (image, boxes, classes) after the
    occlusion rule (module doc)."""
    H, W = img.shape[:2]
    out = img.copy()
    items = [(b.astype(np.float64), int(c), m) for b, c, m in zip(boxes, classes, masks)]
    covered_after: list[np.ndarray] = []  # per item: pixels pasted over it after it was placed
    cover = np.zeros((H, W), bool)
    for _ in items:
        covered_after.append(cover)  # shared until the first paste: the same (all False) array
    pasted_any = False
    for crop, cmask, c in donors:
        ch, cw = crop.shape[:2]
        s = min(rng.uniform(0.8, 1.25), (W - 1) / cw, (H - 1) / ch)
        w, h = max(2, int(cw * s)), max(2, int(ch * s))
        box = None
        same = [b for b, k, _ in items if k == c]
        if same and rng.random() < near:
            box = place_beside(rng, same[int(rng.integers(len(same)))], w, h, W, H, rng.uniform(0.3, 0.8))
        if box is None:
            box = place_apart(rng, w, h, W, H, same, tries=10)
        x0, y0 = int(round(box[0])), int(round(box[1]))
        w, h = min(w, W - x0), min(h, H - y0)
        pi = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
        pm = cv2.resize(cmask, (w, h), interpolation=cv2.INTER_NEAREST)
        if rng.random() < 0.5:
            pi, pm = pi[:, ::-1], pm[:, ::-1]
        if not pm.any():
            continue
        full = np.zeros((H, W), np.uint8)
        full[y0:y0 + h, x0:x0 + w] = pm
        on = full.astype(bool)
        out[on] = pi[pm.astype(bool)]
        covered_after = [cv_ | on for cv_ in covered_after]
        ys, xs = np.nonzero(pm)
        items.append((np.array([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], np.float64), c,
                      full))
        covered_after.append(np.zeros((H, W), bool))
        pasted_any = True
    if not pasted_any:
        return img, boxes, classes
    kb, kc = [], []
    for (b, c, m), cov in zip(items, covered_after):
        if m is not None:
            vis = m.astype(bool) & ~cov
            frac = vis.sum() / max(1, int(m.sum()))
            if frac < MIN_VISIBLE:
                continue
            if not amodal and vis.any() and frac < 1:
                ys, xs = np.nonzero(vis)
                b = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        else:
            x1, y1, x2, y2 = (int(round(v)) for v in b)
            region = cov[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
            if region.size and 1 - region.mean() < MIN_VISIBLE:
                continue
        kb.append(b)
        kc.append(c)
    return (out, np.array(kb, np.float32).reshape(-1, 4), np.array(kc, classes.dtype if len(classes) else np.int64))
