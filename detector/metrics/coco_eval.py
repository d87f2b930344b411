"""COCO-style bbox evaluation through pycocotools (``COCOeval``), for every dataset form.

A COCO-json split is scored against its own json file; a YOLO-txt split is turned into an
in-memory COCO ground truth first, so every dataset is scored by the same code. Predictions
are mapped back to original-image pixels and to the dataset's category ids.

Evaluator API (what the trainer calls each epoch)::

    ev = COCOEvaluator.from_split(split_index)
    ev.reset(); ev.update(dets_per_image, metas); metrics = ev.compute()
"""
from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..data.records import record_name
from ..data.transforms import scale_to_original
from .crowd import bucket_name, match_table, max_same_class_iou, miss_rate_mr2, overlap_buckets
from .faster_backend import faster_eval, match_view, resolve_backend

BACKENDS = ("auto", "pycocotools", "faster")
STAT_KEYS = ["mAP50-95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large",
             "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]


def _quiet(fn, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **k)


def coco_from_dict(d: dict) -> COCO:
    gt = COCO()
    gt.dataset = copy.deepcopy(d)
    _quiet(gt.createIndex)
    return gt


def load_coco(path: str | Path) -> COCO:
    return _quiet(COCO, str(path))


def yolo_split_to_coco(records, names: list[str], sizes: dict[int, tuple[int, int]],
                       cat_ids: list[int] | None = None) -> dict:
    """In-memory COCO ground truth of YOLO-txt or VOC records (category id ``cat_ids[class]``, by default
    class + 1 as in Ultralytics' results files; ignore regions of known class as ``iscrowd`` boxes)."""
    cat_ids = list(cat_ids) if cat_ids is not None else list(range(1, len(names) + 1))
    images, anns = [], []
    aid = 1
    for r in records:
        h, w = sizes.get(r.image_id, (r.height, r.width))
        if not h or not w:
            continue
        images.append({"id": r.image_id, "width": int(w), "height": int(h), "file_name": record_name(r)})
        scale = np.array([w, h, w, h], np.float64) if r.normalized else np.ones(4)
        for b, c in zip(r.boxes.astype(np.float64) * scale, r.classes):
            anns.append({"id": aid, "image_id": r.image_id, "category_id": cat_ids[int(c)], "iscrowd": 0,
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1])})
            aid += 1
        if r.crowd_classes is not None:  # ignore regions of a known class (VOC 'difficult'): not scored
            for b, c in zip(r.crowd.astype(np.float64) * scale, r.crowd_classes):
                anns.append({"id": aid, "image_id": r.image_id, "category_id": cat_ids[int(c)], "iscrowd": 1,
                             "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1])})
                aid += 1
    cats = [{"id": cid, "name": n} for cid, n in zip(cat_ids, names)]
    return {"images": images, "annotations": anns, "categories": cats}


def external_image_id(record) -> int | str:
    """The image id a results file uses for one record: the dataset's id for COCO json; for YOLO txt and
    VOC, Ultralytics' ``int(stem)`` if the stem is a number, else the stem itself (:func:`external_ids`
    makes them unique over a split)."""
    if not (record.stem_ids or record.normalized):
        return int(record.image_id)
    stem = Path(record.path).stem
    return int(stem) if stem.isdigit() else stem


def external_ids(records) -> dict[int, tuple[int | str, str]]:
    """image id -> (id written to results files, file name written there), unique per image: the file
    name is the path relative to the split's image root (COCO's file_name); the id is COCO's, or for YOLO
    txt / VOC Ultralytics' stem convention while stems are unique in the split, else the relative path
    without its suffix ('seq1/000001': two cameras' 000001.jpg stay two images)."""
    records = list(records or [])
    ids = [external_image_id(r) for r in records]
    stemmed = [r.stem_ids or r.normalized for r in records]
    if len(set(ids)) != len(ids):
        ids = [str(Path(record_name(r)).with_suffix("").as_posix()) if s else i
               for r, i, s in zip(records, ids, stemmed)]
    return {r.image_id: (i, record_name(r)) for r, i in zip(records, ids)}


class COCOEvaluator:
    def __init__(self, cat_ids: list[int], names: list[str], gt: COCO | None = None, records=None):
        self.cat_ids, self.names = list(cat_ids), list(names)
        self._gt, self._records = gt, records
        # image id -> (id written to results files, file name): Ultralytics-compatible predictions.json
        self.external = external_ids(records)
        self.only_cat_ids: list[int] | None = None
        self.backend = "auto"  # faster-coco-eval when installed (the same numbers), else pycocotools
        self.reset()

    @classmethod
    def from_split(cls, idx) -> "COCOEvaluator":
        if idx.kind == "coco":
            ev = cls(idx.cat_ids, idx.names, gt=load_coco(idx.ann_file))
            ev.only_cat_ids = list(idx.cat_ids) if idx.subset else None  # 'classes': score those only
            ev.external = external_ids(idx.records)
            return ev
        return cls(idx.cat_ids, idx.names, records=idx.records)

    def reset(self) -> None:
        self.rows: list[np.ndarray] = []  # [K, 7]: image_id, x, y, w, h, score, category_id
        self.densities: list[np.ndarray] = []  # [K] predicted crowd density of each row (NaN: none)
        self.image_ids: list[int] = []
        self._seen: set[int] = set()
        self.sizes: dict[int, tuple[int, int]] = {}

    def update(self, dets: list[torch.Tensor], metas: list[dict]) -> None:
        """dets: per image Tensor[K, >=6] (x1, y1, x2, y2, score, class[, density]) in network-input pixels."""
        cat = np.asarray(self.cat_ids, np.float64)
        for d, m in zip(dets, metas):
            if int(m["image_id"]) in self._seen:  # a stand-in for an unreadable image: scored once only
                continue
            self._seen.add(int(m["image_id"]))
            self.image_ids.append(int(m["image_id"]))
            self.sizes[int(m["image_id"])] = tuple(m["orig_shape"])
            if len(d) == 0:
                continue
            b = scale_to_original(d[:, :4], m).cpu().double().numpy()
            d_np = d.detach().cpu().double().numpy()
            rows = np.empty((len(d), 7))
            rows[:, 0] = m["image_id"]
            rows[:, 1:3] = b[:, :2]
            rows[:, 3:5] = b[:, 2:4] - b[:, :2]
            rows[:, 5] = d_np[:, 4]
            rows[:, 6] = cat[d_np[:, 5].astype(np.int64)]
            self.rows.append(rows)
            self.densities.append(d_np[:, 6] if d_np.shape[1] > 6 else np.full(len(d), np.nan))

    def predictions_json(self) -> list[dict]:
        """COCO results format (what --save-json writes). Values are not rounded, so scoring the
        file gives exactly the metrics computed in memory."""
        out = []
        dens = np.concatenate(self.densities) if self.densities else np.zeros(0)
        for r, dn in zip(np.concatenate(self.rows) if self.rows else np.zeros((0, 7)), dens):
            image_id, file_name = self.external.get(int(r[0]), (int(r[0]), None))
            row = {"image_id": image_id, "category_id": int(r[6]), "bbox": [float(v) for v in r[1:5]],
                   "score": float(r[5])}
            if file_name:
                row["file_name"] = file_name
            if np.isfinite(dn):  # an extra key: COCO tools ignore it, --pred reads it back
                row["density"] = float(dn)
            out.append(row)
        return out

    def ground_truth(self) -> COCO:
        if self._gt is None:
            self._gt = coco_from_dict(yolo_split_to_coco(self._records, self.names, self.sizes, self.cat_ids))
        return self._gt

    def compute(self) -> dict:
        gt = self.ground_truth()
        dets = np.concatenate(self.rows) if self.rows else np.zeros((0, 7))
        dens = np.concatenate(self.densities) if self.densities else None
        return evaluate_arrays(gt, dets, sorted(set(self.image_ids)) or None, self.cat_ids, self.names,
                               self.only_cat_ids, densities=dens, backend=resolve_backend(self.backend))


def evaluate_arrays(gt: COCO, dets: np.ndarray, image_ids: list[int] | None, cat_ids: list[int], names: list[str],
                    only_cat_ids: list[int] | None = None, densities: np.ndarray | None = None,
                    backend: str = "pycocotools") -> dict:
    """Score an array of detections [K, 7] (image_id, x, y, w, h, score, category_id) with COCOeval
    (``only_cat_ids``: restrict to these categories). Also returns ``recall50``: recall at IoU 0.5,
    100 detections per image, class mean; the crowded ground truth's recall; and, given each row's
    predicted crowd density (``densities`` [K], NaN where none), :func:`density_calibration`.

    ``backend``: "pycocotools", "faster" (faster-coco-eval's C++ evaluation, the same numbers several times
    faster on large sets: :mod:`detector.metrics.faster_backend`) or "auto" (faster when installed)."""
    out: dict = {k: 0.0 for k in STAT_KEYS}
    out.update(per_class={}, precision=0.0, recall=0.0, f1=0.0, conf=0.0, note="")
    if image_ids is None:
        image_ids = sorted(gt.getImgIds())
    if not image_ids:
        raise ValueError("no images to evaluate (empty split)")
    if len(dets) == 0:
        out["note"] = "no predictions: every metric is 0"
        return out
    backend = resolve_backend(backend)
    out["coco_backend"] = backend
    if backend == "faster":
        ev = faster_eval(gt, dets, _quiet)
    elif backend == "pycocotools":
        dt = _quiet(gt.loadRes, dets)
        ev = COCOeval(gt, dt, "bbox")
    else:
        raise ValueError(f"COCO evaluation backend must be one of {BACKENDS}, got {backend!r}")
    ev.params.imgIds = image_ids
    if only_cat_ids:
        ev.params.catIds = list(only_cat_ids)
    else:  # categories without ground truth in these images score -1 (left out of every mean) anyway:
        present = _categories_in(gt, image_ids)  # skipping them gives the same numbers, faster
        if present:
            ev.params.catIds = present
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ev.summarize()
    out["summary"] = buf.getvalue()
    for k, v in zip(STAT_KEYS, ev.stats):
        out[k] = max(float(v), 0.0) if v != -1 else -1.0
    rec = ev.eval["recall"][0, :, 0, -1]  # [K] at IoU 0.5, area all, maxDets 100
    out["recall50"] = float(rec[rec > -1].mean()) if (rec > -1).any() else 0.0
    mv = ev if backend == "pycocotools" else match_view(ev, gt, dets, _quiet)  # the matching at IoU 0.5
    max_iou = max_same_class_iou(gt, mv.params.imgIds, mv.params.catIds if mv.params.useCats else None)
    crowded = {a for a, v in max_iou.items() if v >= CROWDED_IOU}
    out.update(crowded_recall(mv, crowded))
    out.update(crowd_metrics(mv, max_iou))
    if densities is not None and np.isfinite(densities).any():
        out.update(density_calibration(mv, densities, crowded))
    prec = ev.eval["precision"]  # [T, R, K, A, M]
    for ki, cid in enumerate(ev.params.catIds):
        p = prec[:, :, ki, 0, -1]
        if (p > -1).any():
            name = names[cat_ids.index(cid)] if cid in cat_ids else str(cid)
            p50 = prec[0, :, ki, 0, -1]
            out["per_class"][name] = {"AP50-95": float(p[p > -1].mean()),
                                      "AP50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else 0.0}
    out.update(pr_at_best_f1(mv))
    return out


CROWDED_IOU = 0.5  # a ground-truth box is "crowded" when it overlaps another of its class at least this much


def crowded_gt_ids(gt: COCO, image_ids: list[int], iou: float = CROWDED_IOU,
                   cat_ids: list[int] | None = None) -> set[int]:
    """Annotation ids of non-crowd ground-truth boxes whose highest IoU with another non-crowd box of
    the same class in the same image is >= ``iou``: the objects greedy NMS at 0.5 tends to remove.
    ``cat_ids``: only these categories (the ones scored; default all)."""
    return {a for a, v in max_same_class_iou(gt, image_ids, cat_ids).items() if v >= iou}


def crowd_metrics(ev: COCOeval, max_iou: dict[int, float]) -> dict:
    """Recall@0.5 and AP50 per overlap bucket, flat (``recall50[0.5-0.7]``, ``AP50[>=0.7]``, ...), the
    crowded set's AP50 (``crowded_AP50``: ground truth with a same-class IoU >= 0.5) and ``MR-2``
    (single-class tasks): :mod:`detector.metrics.crowd`."""
    out: dict = {}
    table = match_table(ev, max_iou)  # one pass over the matching for both calls below
    for name, v in overlap_buckets(ev, max_iou, table=table).items():
        out[f"recall50[{name}]"], out[f"AP50[{name}]"], out[f"gt[{name}]"] = v["recall50"], v["AP50"], v["gt"]
    out["crowded_AP50"] = overlap_buckets(ev, max_iou, ((CROWDED_IOU, 1.01),), table)[bucket_name(CROWDED_IOU, 1.01)][
        "AP50"]
    out["MR-2"] = miss_rate_mr2(ev)
    return out


def crowded_recall(ev: COCOeval, crowded: set[int]) -> dict:
    """Recall at IoU 0.5 (area all, 100 detections per image) of the crowded ground truth
    (:func:`crowded_gt_ids`) of the scored categories, read from pycocotools' own matching of an
    evaluated ``COCOeval``."""
    a_all, hit = ev.params.areaRng[0], 0
    for e in ev.evalImgs:
        if e is None or e["aRng"] != a_all:
            continue
        for gid, m in zip(e["gtIds"], np.asarray(e["gtMatches"]).reshape(len(ev.params.iouThrs), -1)[0]):
            hit += int(gid in crowded and m > 0)
    return {"crowded_gt": len(crowded), "crowded_recall50": float(hit / len(crowded)) if crowded else float("nan")}


def density_calibration(ev: COCOeval, densities: np.ndarray, crowded: set[int]) -> dict:
    """Is the density branch ready for adaptive NMS? The mean predicted density of the detections that
    pycocotools matched at IoU 0.5 (area all) to crowded ground truth (:func:`crowded_gt_ids`) and to the
    rest. Adaptive NMS keeps a crowded neighbour only where the kept box's density exceeds the NMS IoU
    threshold, so ``density_crowded`` far below it means adaptive NMS acts as greedy. ``densities`` [K]
    follows the rows given to ``loadRes`` (detection id = row + 1)."""
    a_all = ev.params.areaRng[0]
    got: dict[bool, list[float]] = {True: [], False: []}
    for e in ev.evalImgs:
        if e is None or e["aRng"] != a_all:
            continue
        matches = np.asarray(e["gtMatches"]).reshape(len(ev.params.iouThrs), -1)[0]
        for gid, m, ign in zip(e["gtIds"], matches, e["gtIgnore"]):
            if m > 0 and not ign and np.isfinite(densities[int(m) - 1]):
                got[gid in crowded].append(float(densities[int(m) - 1]))
    return {"density_crowded": float(np.mean(got[True])) if got[True] else float("nan"),
            "density_other": float(np.mean(got[False])) if got[False] else float("nan")}


def _categories_in(gt: COCO, image_ids: list[int]) -> list[int]:
    """Sorted category ids with at least one annotation (crowd included) in ``image_ids``."""
    return sorted({a["category_id"] for i in image_ids for a in gt.imgToAnns.get(i, [])})


def pr_at_best_f1(ev: COCOeval, iou_index: int = 0) -> dict:
    """Precision / recall at the confidence that maximises the class-mean F1 (IoU 0.5, area all)."""
    per_cat: dict[int, tuple[list, list, int]] = {}
    a_all = ev.params.areaRng[0]
    max_det = ev.params.maxDets[-1]
    for e in ev.evalImgs:
        if e is None or e["aRng"] != a_all:
            continue
        c = e["category_id"]
        scores, matched, n_gt = per_cat.setdefault(c, ([], [], 0))
        ig = np.asarray(e["dtIgnore"])[iou_index][:max_det].astype(bool) if len(e["dtIds"]) else np.zeros(0, bool)
        m = np.asarray(e["dtMatches"])[iou_index][:max_det] if len(e["dtIds"]) else np.zeros(0)
        s = np.asarray(e["dtScores"])[:max_det]
        scores.extend(s[~ig].tolist())
        matched.extend((m[~ig] > 0).tolist())
        per_cat[c] = (scores, matched, n_gt + int((~np.asarray(e["gtIgnore"], bool)).sum()))
    grid = np.linspace(0, 1, 1001)
    ps, rs = [], []
    for c, (s, m, n) in per_cat.items():
        if n == 0:
            continue
        s, m = np.asarray(s), np.asarray(m, bool)
        o = np.argsort(-s, kind="stable")
        s, m = s[o], m[o]
        tp, fp = np.cumsum(m), np.cumsum(~m)
        # precision / recall as functions of the confidence threshold (descending scores)
        k = np.searchsorted(-s, -grid, side="right")  # detections with score >= threshold
        tpk = np.where(k > 0, tp[np.maximum(k - 1, 0)], 0) if len(s) else np.zeros_like(grid)
        fpk = np.where(k > 0, fp[np.maximum(k - 1, 0)], 0) if len(s) else np.zeros_like(grid)
        ps.append(np.where(tpk + fpk > 0, tpk / np.maximum(tpk + fpk, 1), 1.0))
        rs.append(tpk / n)
    if not ps:
        return {}
    P, R = np.mean(ps, 0), np.mean(rs, 0)
    F1 = 2 * P * R / np.maximum(P + R, 1e-16)
    i = int(F1.argmax())
    return {"precision": float(P[i]), "recall": float(R[i]), "f1": float(F1[i]), "conf": float(grid[i]),
            "curve": {"conf": grid, "precision": P, "recall": R, "f1": F1}}
