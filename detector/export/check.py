"""Check an export against its checkpoint on one real image, both run through the same Predictor
(same letterbox and normalisation): what tools/export.py prints after every export."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from ..data.image_io import read_image
from ..predict.predictor import Predictor
from .exporter import load_model
from ..runtime import open_exported

#: scores closer than this are a near-tie: two runtimes' float rounding (~1e-7 on CPU, ~1e-6 OpenVINO) may
#: order them either way, and which of two overlapping near-tied boxes NMS keeps follows that order
TIE_TOL = 1e-5
SAME_IOU = 0.99  # a detection of one side is the same as one of the other: same class, IoU above this, near score


def match_detections(a: torch.Tensor, b: torch.Tensor, iou_thres: float, tol: float = TIE_TOL) -> dict:
    """a Tensor[Na, >=6], b Tensor[Nb, >=6] (x1, y1, x2, y2, score, class, ...): two NMS results on nearly the
    same decoded predictions. Returns {"same": [(i, j), ...] one-to-one pairs (same class, IoU > SAME_IOU,
    scores within ``tol``), "ties": int, "other": int}: of the detections left unpaired on either side,
    ``ties`` are those explained by the order of near-tied scores, ``other`` the rest (a real difference).

    An unpaired detection is explained when the unpaired detections overlapping it (same class, IoU above
    the NMS threshold ``iou_thres``, across the two sides) link it to one whose score is within ``tol`` of an
    overlapping detection of the other side: NMS kept one of two near-tied boxes on one side and the other
    box on the other side, and every detection that choice freed or suppressed further along the chain."""
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        return {"same": [], "ties": 0, "other": na + nb}
    iou = box_iou(a[:, :4].float(), b[:, :4].float())
    cls = a[:, 5, None] == b[None, :, 5]
    near = (a[:, 4, None].float() - b[None, :, 4].float()).abs() <= tol
    ci, cj = ((iou > SAME_IOU) & cls & near).nonzero(as_tuple=True)  # candidate pairs, best IoU first
    order = torch.argsort(iou[ci, cj], descending=True, stable=True)
    pairs, used_a, used_b = [], torch.zeros(na, dtype=torch.bool), torch.zeros(nb, dtype=torch.bool)
    for i, j in zip(ci[order].tolist(), cj[order].tolist()):
        if not used_a[i] and not used_b[j]:
            used_a[i] = used_b[j] = True
            pairs.append((i, j))
    over = (iou > iou_thres) & cls
    # roots: an unpaired detection overlapping a near-tied detection of the other side
    ex_a, ex_b = ~used_a & (over & near).any(1), ~used_b & (over & near).any(0)
    link = over & ~used_a[:, None] & ~used_b[None, :]  # unpaired to unpaired, across the sides
    while True:  # spread along the chains of unpaired overlapping detections
        na_, nb_ = ex_a | (link & ex_b[None, :]).any(1), ex_b | (link & ex_a[:, None]).any(0)
        if bool((na_ == ex_a).all() and (nb_ == ex_b).all()):
            break
        ex_a, ex_b = na_, nb_
    ties = int(ex_a.sum() + ex_b.sum())
    return {"same": pairs, "ties": ties, "other": int((~used_a).sum() + (~used_b).sum()) - ties}


def compare_export(weights: str | Path, exported: str | Path, image: str | Path | np.ndarray, img: int) -> dict:
    """{"max_abs_diff": float, "runtime": str} for a graph that decodes (onnxruntime / OpenVINO vs PyTorch,
    decoded outputs). With NMS in the graph also {"detections": (graph's count, PyTorch + our NMS count),
    "same": detections found by both, "ties": those that differ by the order of near-tied scores,
    "other": those that differ otherwise (see :func:`match_detections`)}; ``max_abs_diff`` is then over the
    detections found by both (x1, y1, x2, y2, score, class, density)."""
    arr = image if isinstance(image, np.ndarray) else read_image(image)
    _, model = load_model(weights)
    em = open_exported(exported)
    size = em.static_size or img
    torch_p = Predictor.from_model(model, torch.device("cpu"), img=size, rect=False)
    x, _ = torch_p.preprocess([arr])
    out = {"runtime": em.runtime}
    if em.graph_nms is None:
        ex_p = Predictor.from_exported(em, img=size, rect=False)
        out["max_abs_diff"] = float((ex_p.forward(x) - torch_p.forward(x)).abs().max())
        return out
    g = em.graph_nms
    opts = dict(img=size, rect=False, conf_thres=g["conf"], iou_thres=g["iou"], nms=g["method"], max_det=g["max_det"])
    ours = Predictor.from_model(model, torch.device("cpu"), **opts)(x)[0]
    theirs = Predictor.from_exported(em, **opts)(x)[0]
    m = match_detections(theirs, ours, g["iou"])
    out.update(detections=(len(theirs), len(ours)), same=len(m["same"]), ties=m["ties"], other=m["other"])
    if m["same"]:
        i, j = (list(t) for t in zip(*m["same"]))
        out["max_abs_diff"] = float((theirs[i] - ours[j]).abs().max())
    else:
        out["max_abs_diff"] = 0.0 if not len(theirs) and not len(ours) else float("inf")
    return out
