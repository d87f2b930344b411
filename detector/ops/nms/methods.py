"""The registered methods: thin adapters from the registry contract to the algorithms."""
from __future__ import annotations

import torch

from .algorithms import adaptive_nms, diou_nms, greedy_nms, soft_nms
from .registry import register_nms


@register_nms("greedy")
def _greedy(boxes, scores, idxs, densities, iou_thres, conf_thres, **_):
    return greedy_nms(boxes, scores, idxs, iou_thres), None


@register_nms("adaptive")
def _adaptive(boxes, scores, idxs, densities, iou_thres, conf_thres, **_):
    return adaptive_nms(boxes, scores, idxs, iou_thres, densities), None


@register_nms("soft")
def _soft(boxes, scores, idxs, densities, iou_thres, conf_thres, sigma: float = 0.5, soft_method: str = "gaussian",
          max_det: int | None = None, **_):
    # decayed scores must still clear the user's threshold
    return soft_nms(boxes, scores, idxs, sigma, iou_thres, score_threshold=conf_thres, method=soft_method,
                    max_picks=max_det)


@register_nms("soft_linear")
def _soft_linear(boxes, scores, idxs, densities, iou_thres, conf_thres, max_det: int | None = None, **_):
    """Linear Soft-NMS: scores times (1 - IoU) above the IoU threshold."""
    return soft_nms(boxes, scores, idxs, iou_threshold=iou_thres, score_threshold=conf_thres, method="linear",
                    max_picks=max_det)


@register_nms("adaptive_soft")
def _adaptive_soft(boxes, scores, idxs, densities, iou_thres, conf_thres, max_det: int | None = None, **_):
    """Adaptive NMS's soft form (Liu et al. 2019): linear Soft-NMS with threshold max(N_t, d_M) per kept box."""
    return soft_nms(boxes, scores, idxs, iou_threshold=iou_thres, score_threshold=conf_thres, method="linear",
                    densities=densities, max_picks=max_det)


@register_nms("diou")
def _diou(boxes, scores, idxs, densities, iou_thres, conf_thres, beta: float = 1.0, **_):
    return diou_nms(boxes, scores, idxs, iou_thres, beta), None


@register_nms("none")
def _nms_free(boxes, scores, idxs, densities, iou_thres, conf_thres, **_):
    """NMS-free (YOLO26's end-to-end inference): no suppression; the ``max_det`` best candidates of each image
    stay. It reads the one-to-one branch's columns (``columns``), which only an end-to-end head has."""
    return torch.arange(len(scores), device=scores.device), None


_nms_free.columns = ("xyxy_o2o", "cls_o2o")
