"""Metrics: COCO evaluation through pycocotools."""
from .coco_eval import STAT_KEYS, COCOEvaluator, evaluate_arrays

__all__ = ["STAT_KEYS", "COCOEvaluator", "evaluate_arrays"]
