"""YOLO txt datasets (Ultralytics layout): ``train: images/train`` (a folder, a .txt image list, or a list of them)."""
from __future__ import annotations

from pathlib import Path

from ..cache import cached_index
from ..records import index_yolo, label_path_for
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
        records, issues, _, _ = cached_index(
            _cache_path(spec.images), _signature_roots(spec.images),
            {"format": "yolo", "split": split, "decode": decode, "nc": len(all_names), "class_map": class_map},
            lambda: (*index_yolo(spec.images, len(all_names), split, decode, class_map), [], []))
        # YOLO txt: category id = class index + 1, as Ultralytics writes results files (interchangeable json)
        return SplitIndex(split, "yolo", records, issues, names, list(range(1, len(names) + 1)))


def _sources(images) -> list[Path]:
    return [Path(p) for p in (images if isinstance(images, list) else [images])]


def _cache_path(images) -> Path | None:
    """``images/train2017`` -> ``labels/train2017.labels.npz`` (as Ultralytics' ``labels/train2017.cache``);
    a list file ``train.txt`` -> ``train.labels.npz`` beside it; None (no cache) for a file-system root."""
    src = _sources(images)[0]
    base = label_path_for(src / "x.jpg").parent if src.is_dir() else src
    if not base.name:
        return None
    return base.with_name((base.name if src.is_dir() else base.stem) + ".labels.npz")


def _signature_roots(images) -> list[Path]:
    """What the index of a YOLO split is built from: each folder and its labels twin, or each list file
    and the images and label files it names."""
    roots: list[Path] = []
    for src in _sources(images):
        if src.is_dir():
            roots += [src, label_path_for(src / "x.jpg").parent]
        else:
            roots.append(src)
            try:
                lines = [ln.strip() for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()]
            except (OSError, UnicodeDecodeError):
                continue
            for ln in lines:
                p = Path(ln) if Path(ln).is_absolute() else src.parent / ln
                roots += [p, label_path_for(p)]
    return roots
