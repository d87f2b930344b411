"""The names an ablation's tables and rows use: which metrics each evaluation keeps, and the column prefix
of an evaluation (NMS method, and IoU threshold in a sweep). A leaf that runner, peers and report share."""
from __future__ import annotations

from ..ops.nms import IOU_THRES

EVAL_KEYS = ("mAP50-95", "mAP50", "mAP75", "AR100", "recall50", "crowded_gt", "crowded_recall50",
             "density_crowded", "density_other", "crowded_AP50", "MR-2",
             *(f"{k}[{b}]" for b in ("<0.3", "0.3-0.5", "0.5-0.7", ">=0.7") for k in ("recall50", "AP50")))


def eval_key(method: str, iou: float | None) -> str:
    """Column prefix of one evaluation: ``greedy`` at the default IoU threshold, ``greedy@0.6`` in a sweep."""
    return method if iou is None else f"{method}@{iou:g}"


def main_key(cfg) -> str:
    """The column prefix the main table reads: the first NMS method, at the default IoU threshold (or the
    sweep's first threshold when the sweep leaves the default out)."""
    if not cfg.nms_iou:
        return cfg.nms[0]
    return eval_key(cfg.nms[0], IOU_THRES if IOU_THRES in cfg.nms_iou else cfg.nms_iou[0])
