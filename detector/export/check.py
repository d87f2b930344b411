"""Check an export against its checkpoint on one real image, both run through the same Predictor
(same letterbox and normalisation): what tools/export.py prints after every export."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.image_io import read_image
from ..predict.predictor import Predictor
from .exporter import load_model
from ..runtime import open_exported


def compare_export(weights: str | Path, exported: str | Path, image: str | Path | np.ndarray, img: int) -> dict:
    """{"max_abs_diff": float, "runtime": str} for a graph that decodes (onnxruntime / OpenVINO vs PyTorch,
    decoded outputs); with NMS in the graph also {"detections": (graph's count, PyTorch + our NMS count)},
    ``max_abs_diff`` then over the detections (x1, y1, x2, y2, score, class, density) when the counts agree."""
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
    out["detections"] = (len(theirs), len(ours))
    if len(theirs) == len(ours):
        a = theirs[np.lexsort((theirs[:, 0].numpy(), -theirs[:, 4].numpy()))]
        b = ours[np.lexsort((ours[:, 0].numpy(), -ours[:, 4].numpy()))]
        out["max_abs_diff"] = float((a - b).abs().max()) if len(a) else 0.0
    else:
        out["max_abs_diff"] = float("inf")
    return out
