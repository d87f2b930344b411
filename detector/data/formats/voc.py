"""Pascal VOC datasets (``format: voc``): ``train: ImageSets/Main/train.txt`` with XML files in Annotations/."""
from __future__ import annotations

from ..types import SplitIndex, SplitSpec
from ..voc import collect_names, index_voc
from .base import DatasetFormat, kept_names, register_format


@register_format("voc", explicit=True)
class VocFormat(DatasetFormat):
    shape = "an image list such as ImageSets/Main/train.txt"

    def parse(self, source, root, split, value):
        return SplitSpec("voc", root / "JPEGImages", root / value) if isinstance(value, str) else None

    def index(self, cfg, spec, split, decode):
        if not spec.annotations.is_file():
            raise ValueError(f"{cfg.source}: {split} image list not found: {spec.annotations}")
        if cfg.names is None:  # from the XML files of every split, sorted, so that all splits agree
            lists = [s.annotations for s in cfg.splits.values() if s.annotations.is_file()]
            cfg.names = collect_names(cfg.root, lists)
            print(f"{cfg.source}: no 'names': {len(cfg.names)} classes collected from the XML files: {cfg.names}")
        names = kept_names(cfg, cfg.names)
        records, issues = index_voc(cfg.root, spec.annotations, names, split, decode, known=cfg.names)
        return SplitIndex(split, "voc", records, issues, names, list(range(1, len(names) + 1)), str(spec.annotations))
