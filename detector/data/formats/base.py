"""The dataset-format registry: how a data YAML's split entry is read, and how a split is indexed.

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

from ...config import ConfigError
from ...registry import Registry
from ..types import DataConfig, SplitIndex, SplitSpec

#: name -> DatasetFormat instance, in registration order (the order formats are tried in)
FORMATS = Registry("dataset format")


class DatasetFormat:
    name = ""
    explicit = False
    shape = ""  # how a split entry looks, for error messages

    def parse(self, source: Path, root: Path, split: str, value) -> SplitSpec | None:
        """A split entry -> SplitSpec; None when the value is not this format's (inference)."""
        raise NotImplementedError

    def index(self, cfg: DataConfig, spec: SplitSpec, split: str, decode: bool) -> SplitIndex:
        """-> :class:`~detector.data.types.SplitIndex`."""
        raise NotImplementedError


def register_format(name: str, explicit: bool = False):
    def deco(cls: type[DatasetFormat]) -> type[DatasetFormat]:
        inst = cls()
        inst.name, inst.explicit = name, explicit
        FORMATS.add(name, inst)
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


def kept_names(cfg: DataConfig, names: list[str]) -> list[str]:
    if cfg.classes is None:
        return names
    missing = [n for n in cfg.classes if n not in names]
    if missing:
        raise ValueError(f"{cfg.source}: 'classes' names {missing} are not in its names {names}")
    return [n for n in names if n in cfg.classes]
