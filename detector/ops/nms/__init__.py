"""Non-maximum suppression: the algorithms (:mod:`.algorithms`), the methods by name
(:mod:`.registry`, :mod:`.methods`) and the post-processing entry point (:mod:`.postprocess`).
Add a method with one function and ``@register_nms("name")`` (see registry.py)."""
from . import methods  # noqa: F401  (registers greedy, adaptive, soft, soft_linear, adaptive_soft, diou)
from .algorithms import adaptive_nms, diou_nms, greedy_nms, soft_nms
from .postprocess import IOU_THRES, MAX_DET, PREDICT_CONF, VAL_CONF, non_max_suppression
from .registry import DEFAULT_NMS, NMS_REGISTRY, get_nms, nms_methods, register_nms, resolve_nms

__all__ = ["DEFAULT_NMS", "IOU_THRES", "MAX_DET", "NMS_REGISTRY", "resolve_nms", "PREDICT_CONF", "VAL_CONF", "adaptive_nms", "diou_nms", "get_nms",
           "greedy_nms", "nms_methods", "non_max_suppression", "register_nms", "soft_nms"]
