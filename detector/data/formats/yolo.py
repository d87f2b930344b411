"""YOLO txt datasets (Ultralytics layout): ``train: images/train`` (a folder, a .txt image list, or a list of them)."""
from __future__ import annotations

from ..records import index_yolo
from ..types import SplitIndex, SplitSpec
from .base import DatasetFormat, kept_names, register_format


@register_format("yolo")
class YoloFormat(DatasetFormat):
    shape = "an image folder or .txt image list (or a list of them)"

    def parse(self, source, root, split, value):
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return SplitSpec("yolo", [root / v for v in value])  # Ultralytics' train: [a, b]
        return SplitSpec("yolo", root / value) if isinstance(value, str) else None

    def index(self, cfg, spec, split, decode):
        all_names = cfg.names or []
        names, class_map = kept_names(cfg, all_names), None
        if cfg.classes is not None:  # old class index -> new contiguous index
            class_map = {old: new for new, old in enumerate(i for i, n in enumerate(all_names) if n in cfg.classes)}
        records, issues = index_yolo(spec.images, len(all_names), split, decode, class_map)
        # YOLO txt: category id = class index + 1, as Ultralytics writes results files (interchangeable json)
        return SplitIndex(split, "yolo", records, issues, names, list(range(1, len(names) + 1)))
