"""The data layer's types, in one leaf module (it imports no other data module but the record types):
a data YAML parsed (:class:`DataConfig`, one :class:`SplitSpec` per split) and one split indexed
(:class:`SplitIndex`). ``config.py`` (YAML -> DataConfig), ``formats/`` (one file per dataset format) and
``build.py`` (splits -> DataLoaders) all import from here, and never from each other in a circle."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .records import ImageRecord, Issue

__all__ = ["DataConfig", "SplitIndex", "SplitSpec"]


@dataclass
class SplitSpec:
    kind: str  # a registered format: 'coco', 'yolo', 'voc' (data/formats/)
    images: Path | list[Path]  # YOLO: several folders or lists (train: [a, b]) make one split
    annotations: Path | None = None


@dataclass
class DataConfig:
    source: str
    root: Path
    splits: dict[str, SplitSpec]
    names: list[str] | None = None  # YOLO form; COCO names come from the json
    classes: list[str] | None = None  # keep only these classes (by name); the others are left out
    synthetic: dict | None = None
    crowds: dict | None = None  # crowd-task build options, 'source' resolved (data/crowds.py)
    defaults: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)


@dataclass
class SplitIndex:
    split: str
    kind: str  # the split's format (data/formats/)
    records: list[ImageRecord]
    issues: list[Issue]
    names: list[str]
    cat_ids: list[int]  # dataset category id of each contiguous class (COCO: the json's; YOLO: class + 1)
    ann_file: str | None = None
    extra: dict = field(default_factory=dict)
    subset: bool = False  # the data YAML's 'classes' keeps only some of the json's categories

    @property
    def n_rejected(self) -> int:
        return sum(i.severity == "rejected" for i in self.issues)
