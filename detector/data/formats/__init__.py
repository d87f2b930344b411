"""Dataset formats by name, one file each (coco.py, yolo.py, voc.py), registered in this order, which is
also the order in which a split entry without ``format:`` is tried (base.py has the registry and how to add a
format)."""
from . import coco, yolo, voc  # noqa: F401  (registration, in inference order)
from .base import FORMATS, DatasetFormat, kept_names, parse_split, register_format

__all__ = ["FORMATS", "DatasetFormat", "kept_names", "parse_split", "register_format"]
