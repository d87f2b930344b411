"""Dataset formats by name: how a data YAML's split entry is read, and how a split is indexed.

A format is one class and one decorator::

    @register_format("myfmt", explicit=True)          # explicit: only with ``format: myfmt`` in the YAML
    class MyFormat(DatasetFormat):
        def parse(self, source, root, split, value):  # the YAML's train:/val:/test: value -> SplitSpec
            return SplitSpec("myfmt", root / "images", root / value)
        def index(self, cfg, spec, split, decode):    # -> SplitIndex with records (ImageRecord) and label issues
            ...

Formats that are not ``explicit`` are also tried, in registration order, when the YAML names no
format: COCO claims ``{images, annotations}`` mappings, YOLO claims a folder / list string.
"""
from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from .config import DataConfig, SplitSpec

FORMATS: dict[str, "DatasetFormat"] = {}


class DatasetFormat:
    name = ""
    explicit = False
    shape = ""  # how a split entry looks, for error messages

    def parse(self, source: Path, root: Path, split: str, value) -> SplitSpec | None:
        """A split entry -> SplitSpec; None when the value is not this format's (inference)."""
        raise NotImplementedError

    def index(self, cfg: DataConfig, spec: SplitSpec, split: str, decode: bool):
        """-> ``detector.data.build.SplitIndex``."""
        raise NotImplementedError


def register_format(name: str, explicit: bool = False):
    def deco(cls: type[DatasetFormat]) -> type[DatasetFormat]:
        if name in FORMATS:
            raise ValueError(f"dataset format {name!r} is already registered")
        inst = cls()
        inst.name, inst.explicit = name, explicit
        FORMATS[name] = inst
        return cls
    return deco


def parse_split(source: Path, root: Path, split: str, value, fmt: str | None) -> SplitSpec:
    """The YAML's ``split: value`` -> SplitSpec, by the named format or the first that claims it."""
    if fmt is not None:
        spec = FORMATS[fmt].parse(source, root, split, value)
        if spec is None:
            raise ConfigError(f"{source}: with format: {fmt}, {split} must be {FORMATS[fmt].shape}, got {value!r}")
        return spec
    for f in FORMATS.values():
        if not f.explicit:
            spec = f.parse(source, root, split, value)
            if spec is not None:
                return spec
    shapes = " or ".join(f"{f.shape} ({n})" for n, f in FORMATS.items() if not f.explicit)
    raise ConfigError(f"{source}: {split} must be {shapes}; other formats are named with format: "
                      f"{'/'.join(n for n, f in FORMATS.items() if f.explicit)}")


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
        from .build import SplitIndex
        from .records import index_coco

        if not spec.annotations.is_file():
            raise ValueError(f"{cfg.source}: {split} annotations not found: {spec.annotations}")
        if not spec.images.is_dir():
            raise ValueError(f"{cfg.source}: {split} image folder not found: {spec.images}")
        records, issues, cat_ids, names = index_coco(spec.images, spec.annotations, split, decode, cfg.classes)
        return SplitIndex(split, "coco", records, issues, names, cat_ids, str(spec.annotations),
                          subset=cfg.classes is not None)


def _kept_names(cfg: DataConfig, names: list[str]) -> list[str]:
    if cfg.classes is None:
        return names
    missing = [n for n in cfg.classes if n not in names]
    if missing:
        raise ValueError(f"{cfg.source}: 'classes' names {missing} are not in its names {names}")
    return [n for n in names if n in cfg.classes]


@register_format("yolo")
class YoloFormat(DatasetFormat):
    shape = "an image folder or .txt image list (or a list of them)"

    def parse(self, source, root, split, value):
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return SplitSpec("yolo", [root / v for v in value])  # Ultralytics' train: [a, b]
        return SplitSpec("yolo", root / value) if isinstance(value, str) else None

    def index(self, cfg, spec, split, decode):
        from .build import SplitIndex
        from .records import index_yolo

        all_names = cfg.names or []
        names, class_map = _kept_names(cfg, all_names), None
        if cfg.classes is not None:  # old class index -> new contiguous index
            class_map = {old: new for new, old in enumerate(i for i, n in enumerate(all_names) if n in cfg.classes)}
        records, issues = index_yolo(spec.images, len(all_names), split, decode, class_map)
        # YOLO txt: category id = class index + 1, as Ultralytics writes results files (interchangeable json)
        return SplitIndex(split, "yolo", records, issues, names, list(range(1, len(names) + 1)))


@register_format("voc", explicit=True)
class VocFormat(DatasetFormat):
    shape = "an image list such as ImageSets/Main/train.txt"

    def parse(self, source, root, split, value):
        return SplitSpec("voc", root / "JPEGImages", root / value) if isinstance(value, str) else None

    def index(self, cfg, spec, split, decode):
        from .build import SplitIndex
        from .voc import collect_names, index_voc

        if not spec.annotations.is_file():
            raise ValueError(f"{cfg.source}: {split} image list not found: {spec.annotations}")
        if cfg.names is None:  # from the XML files of every split, sorted, so that all splits agree
            lists = [s.annotations for s in cfg.splits.values() if s.annotations.is_file()]
            cfg.names = collect_names(cfg.root, lists)
            print(f"{cfg.source}: no 'names': {len(cfg.names)} classes collected from the XML files: {cfg.names}")
        names = _kept_names(cfg, cfg.names)
        records, issues = index_voc(cfg.root, spec.annotations, names, split, decode, known=cfg.names)
        return SplitIndex(split, "voc", records, issues, names, list(range(1, len(names) + 1)), str(spec.annotations))
