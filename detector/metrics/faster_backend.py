"""faster-coco-eval as a COCO evaluation backend (``tools/val.py --coco-backend faster``).

Its C++ ``evaluate``/``accumulate`` give pycocotools' ``eval`` arrays (so the 12 stats, recall and per-class
AP) several times faster, but keep the per-image matching in C++. The crowd metrics, MR-2, the density
calibration and precision/recall at the best F1 read that matching (pycocotools' ``evalImgs``) at IoU 0.5,
area all: :func:`match_view` gets it from pycocotools itself, restricted to that one threshold and range,
with the images split over forked processes (:func:`evaluate_parallel`) when there are many.
"""
from __future__ import annotations

import contextlib
import copy
import io
import multiprocessing
import os

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
    evaluate_parallel(m, quiet)
    return m


PARALLEL_MIN_IMAGES = 1000  # per process; below it one process is as fast (forking and gathering cost ~1 s)
_FORKED: list = []  # the COCOeval the forked processes inherit (never pickled: it holds every detection)


def _evaluate_images(ids: list[int]) -> list:
    m = _FORKED[0]
    m.params.imgIds = ids
    with contextlib.redirect_stdout(io.StringIO()):
        m.evaluate()
    return m.evalImgs


def evaluate_parallel(m: COCOeval, quiet, workers: int | None = None, min_images: int = PARALLEL_MIN_IMAGES) -> None:
    """``m.evaluate()`` with its images split over up to ``workers`` forked processes (default: the CPU
    count, at most 8), each evaluating whole images: pycocotools' per-(image, category) matching is
    Python, 44 s for COCO val2017 with 500 k detections on one core. ``m.evalImgs`` comes out in
    pycocotools' own order (category, area range, image), element for element what one process gives.
    One process where forking is not available or the images are few."""
    ids = [int(i) for i in np.unique(m.params.imgIds)]
    workers = min(workers or os.cpu_count() or 1, 8, len(ids) // max(min_images, 1))
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        quiet(m.evaluate)
        return
    chunks = [[int(i) for i in c] for c in np.array_split(ids, workers)]
    _FORKED[:] = [m]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_evaluate_images, chunks, chunksize=1)
    finally:
        _FORKED.clear()
    p = m.params
    p.imgIds, p.catIds, p.maxDets = ids, [int(c) for c in np.unique(p.catIds)] if p.useCats else p.catIds, \
        sorted(p.maxDets)
    n_cat, n_area = (len(p.catIds) if p.useCats else 1), len(p.areaRng)
    evalimgs = []
    for k in range(n_cat * n_area):  # pycocotools' order: for category, for area range, for image
        for chunk, part in zip(chunks, parts):
            evalimgs.extend(part[k * len(chunk):(k + 1) * len(chunk)])
    m.evalImgs = evalimgs
    m._paramsEval = copy.deepcopy(p)
