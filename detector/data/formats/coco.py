"""COCO json datasets: ``train: {images: DIR, annotations: FILE.json}``."""
from __future__ import annotations

from ...config import ConfigError
from ..cache import cached_index
from ..coco_index import index_coco
from ..types import SplitIndex, SplitSpec
from .base import DatasetFormat, register_format


@register_format("coco")
class CocoFormat(DatasetFormat):
    shape = "{images: DIR, annotations: FILE.json}"

    def parse(self, source, root, split, value):
        if not isinstance(value, dict):
            return None
        extra = sorted(set(value) - {"images", "annotations"})
        if extra or "images" not in value or "annotations" not in value:
            raise ConfigError(f"{source}: {split} must be {self.shape}, got {value!r}")
        return SplitSpec("coco", root / str(value["images"]), root / str(value["annotations"]))

    def index(self, cfg, spec, split, decode):
        if not spec.annotations.is_file():
            raise ValueError(f"{cfg.source}: {split} annotations not found: {spec.annotations}")
        if not spec.images.is_dir():
            raise ValueError(f"{cfg.source}: {split} image folder not found: {spec.images}")
        ann = spec.annotations
        records, issues, cat_ids, names = cached_index(
            ann.with_name(ann.stem + ".labels.npz"), [ann, spec.images],
            {"format": "coco", "split": split, "decode": decode, "classes": cfg.classes},
            lambda: index_coco(spec.images, ann, split, decode, cfg.classes))
        return SplitIndex(split, "coco", records, issues, names, cat_ids, str(spec.annotations),
                          subset=cfg.classes is not None)
