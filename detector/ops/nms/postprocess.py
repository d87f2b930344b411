"""From decoded predictions to detections: confidence filter, class filter, NMS, max_det."""
from __future__ import annotations

import torch

from ..decode import split_columns
from .registry import get_nms, resolve_nms

# The post-processing defaults, one place for every tool (val, detect, the Detector API, peers' scoring):
IOU_THRES = 0.7  # NMS IoU threshold
MAX_DET = 300  # detections kept per image
PREDICT_CONF = 0.25  # detection output: boxes a user sees
VAL_CONF = 0.001  # scoring: keep low-confidence boxes, COCO mAP integrates over the whole ranking


def non_max_suppression(preds: torch.Tensor, conf_thres: float = PREDICT_CONF, iou_thres: float = IOU_THRES,
                        method: str | None = None, max_det: int = MAX_DET, agnostic: bool = False,
                        classes: list[int] | None = None, multi_label: bool = False, max_nms: int = 30000,
                        has_density: bool = True, layout: dict[str, int] | None = None,
                        **options) -> list[torch.Tensor]:
    """preds: decoded Tensor[B, N, C] whose columns ``layout`` names (a head's ``decoded_layout``: ``xyxy``,
    ``cls`` and optionally ``density``; None: 4 + nc (+ 1 density when ``has_density``), ``decode_outputs``).

    Returns per image a Tensor[K, 7]: x1, y1, x2, y2, score, class, density (0 when the
    predictions carry none), in decreasing score order (equal scores in anchor order); boxes
    scored ``conf_thres`` or below are never returned (for Soft-NMS: after the decay).
    ``options`` go to the method (``sigma``, ``soft_method``, ``beta``, ...). The method runs
    once for the whole batch, its groups numbered image x class."""
    name = resolve_nms(method)
    fn = get_nms(name)
    if isinstance(preds, (list, tuple)):
        raise TypeError("non_max_suppression takes decoded predictions: run detector.ops.decode_outputs(raw, "
                        "model.stride) first (or use detector.predict.predictor.Predictor)")
    if layout is None:
        nc = preds.shape[-1] - 4 - (1 if has_density else 0)
        if nc < 1:
            raise ValueError(f"predictions have {preds.shape[-1]} columns: too few for boxes + classes"
                             f"{' + density' if has_density else ''}")
        layout = {"xyxy": 4, "cls": nc, **({"density": 1} if has_density else {})}
    nc = int(layout["cls"])
    box_key, cls_key = getattr(fn, "columns", ("xyxy", "cls"))  # NMS-free reads the one-to-one branch
    if box_key not in layout or cls_key not in layout:
        raise ValueError(f"NMS method {name!r} reads the columns {box_key!r} and {cls_key!r} of a one-to-one head "
                         f"(YOLO26's end-to-end branch); this model's predictions have {list(layout)}: "
                         "choose an NMS method (greedy, adaptive_soft, ...)")
    # candidates of every image, then one call of the method for the whole batch: groups are
    # image x class (image alone when agnostic), so images never suppress each other
    cand = []
    for n, p in enumerate(preds):
        col = split_columns(p, layout)
        boxes, cls = col[box_key], col[cls_key]
        dens = col["density"][:, 0] if "density" in col else p.new_zeros(len(p))
        if multi_label:
            i, j = (cls > conf_thres).nonzero(as_tuple=True)
            score = cls[i, j]
        else:
            score, j = cls.max(1)
            i = (score > conf_thres).nonzero().squeeze(1)
            score, j = score[i], j[i]
        if classes is not None:
            m = torch.isin(j, torch.as_tensor(classes, device=j.device))
            i, j, score = i[m], j[m], score[m]
        if len(score) > max_nms:
            top = score.topk(max_nms).indices
            i, j, score = i[top], j[top], score[top]
        cand.append((boxes[i], score, j, dens[i], torch.full_like(j, n)))
    if not cand:
        return []
    b, score, j, d, img = (torch.cat(t) for t in zip(*cand))
    gid = img if agnostic else img * nc + j
    k, new_scores = fn(b, score, gid, d, float(iou_thres), float(conf_thres), max_det=max_det, **options)
    if new_scores is not None:
        score = score.clone()
        score[k] = new_scores.to(score.dtype)
    # per image, best first; equal scores by candidate order (anchor order), whatever order the method gave
    k = k.sort().values
    k = k[torch.argsort(score[k], descending=True, stable=True)]
    k = k[torch.argsort(img[k], stable=True)]
    det = torch.cat([b[k], score[k, None], j[k, None].to(b.dtype), d[k, None]], 1)
    return [x[:max_det] for x in det.split(torch.bincount(img[k], minlength=len(preds)).tolist())]
