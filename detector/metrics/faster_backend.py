"""faster-coco-eval as a COCO evaluation backend (``tools/val.py --coco-backend faster``).

Its C++ ``evaluate``/``accumulate`` give pycocotools' ``eval`` arrays (so the 12 stats, recall and per-class
AP) several times faster, but keep the per-image matching in C++. The crowd metrics, MR-2, the density
calibration and precision/recall at the best F1 read that matching (pycocotools' ``evalImgs``) at IoU 0.5,
area all: :func:`match_view` gets it from pycocotools itself, restricted to that one threshold and range.
"""
from __future__ import annotations

import numpy as np
from pycocotools.cocoeval import COCOeval

try:  # optional (pip install faster-coco-eval; in the dev extras)
    from faster_coco_eval import COCO as FasterCOCO
    from faster_coco_eval import COCOeval_faster
except ImportError:  # pragma: no cover - only without the extra
    FasterCOCO = COCOeval_faster = None

_GT_CACHE: dict[int, tuple] = {}


def resolve_backend(name: str) -> str:
    """"auto" -> "faster" when faster-coco-eval is installed (its numbers are pycocotools', tested to 1e-6),
    else "pycocotools"; other names unchanged."""
    if name == "auto":
        return "faster" if COCOeval_faster is not None else "pycocotools"
    return name


def faster_gt(gt, quiet):
    """faster-coco-eval's own COCO object for a pycocotools ground truth (indexed once per ground truth)."""
    if FasterCOCO is None:
        raise ValueError("--coco-backend faster needs faster-coco-eval: pip install faster-coco-eval")
    hit = _GT_CACHE.get(id(gt))
    if hit is None or hit[0] is not gt:
        fgt = FasterCOCO()
        fgt.dataset = gt.dataset
        quiet(fgt.createIndex)
        _GT_CACHE.clear()
        _GT_CACHE[id(gt)] = hit = (gt, fgt)
    return hit[1]


def faster_eval(gt, dets: np.ndarray, quiet):
    """An un-run ``COCOeval_faster`` of detections [K, 7] against pycocotools ground truth ``gt``."""
    fgt = faster_gt(gt, quiet)
    dt = quiet(fgt.loadRes, dets)
    return COCOeval_faster(fgt, dt, "bbox", separate_eval=True, print_function=lambda *a, **k: None)


def match_view(ev, gt, dets: np.ndarray, quiet) -> COCOeval:
    """pycocotools' own per-image matching, for what the extras read only: IoU 0.5, area all, the last
    maxDets (``ev``'s images and categories). faster-coco-eval's ``matched`` pairs are a union over its IoU
    thresholds, not the 0.5 matching, so the extras come from pycocotools, on a tenth of the thresholds and a
    quarter of the area ranges: exactly pycocotools' numbers, at a fraction of its full time."""
    m = COCOeval(gt, quiet(gt.loadRes, dets), "bbox")
    m.params.imgIds, m.params.catIds, m.params.useCats = list(ev.params.imgIds), list(ev.params.catIds), ev.params.useCats
    m.params.iouThrs = np.array([0.5])
    m.params.areaRng, m.params.areaRngLbl = [list(m.params.areaRng[0])], ["all"]
    m.params.maxDets = [int(ev.params.maxDets[-1])]
    quiet(m.evaluate)
    return m
