"""Pascal VOC XML datasets: ``Annotations/<id>.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.

Boxes: VOC stores 1-based inclusive pixel indices; ``(xmin, ymin, xmax, ymax)`` becomes
``(xmin - 1, ymin - 1, xmax, ymax)`` in our 0-based continuous coordinates (as detectron2 reads it),
so a box over the whole image is ``(0, 0, W, H)``. ``difficult`` objects become ignore regions of their
class, as the VOC evaluation ignores them. Every problem is an :class:`~detector.data.records.Issue`
naming the XML file and the object index: malformed XML, a missing or invalid ``<size>``, a box with
missing or non-numeric coordinates, outside the image, or of a class the data YAML does not name.

XML is read with the standard library parser, which resolves no external entities (nothing is fetched).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .image_io import IMAGE_SUFFIXES
from .records import ImageRecord, Issue, _arr, _check_image, _clip_box


def read_split_ids(list_file: Path) -> list[str]:
    """Image ids of an ``ImageSets/Main/*.txt`` list (first column; '<id> 1' lines of per-class lists too)."""
    try:
        lines = Path(list_file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{list_file}: cannot read the VOC image list: {e}") from None
    return [ln.split()[0] for ln in lines if ln.strip() and not (len(ln.split()) > 1 and ln.split()[1] == "-1")]


def _parse(xml_file: Path) -> tuple[ET.Element | None, str | None]:
    try:
        return ET.parse(xml_file).getroot(), None
    except ET.ParseError as e:
        return None, f"malformed XML: {e}"
    except OSError as e:
        return None, f"unreadable annotation file: {e.strerror or e}"


def collect_names(root: Path, list_files: list[Path]) -> list[str]:
    """Sorted class names found in the XML files of these lists (when the data YAML gives no ``names``)."""
    names: set[str] = set()
    for lf in list_files:
        for image_id in read_split_ids(lf):
            node, _ = _parse(root / "Annotations" / f"{image_id}.xml")
            if node is not None:
                names.update((o.findtext("name") or "").strip() for o in node.iter("object"))
    names.discard("")
    return sorted(names)


def _image_path(root: Path, image_id: str, node: ET.Element) -> Path:
    fn = (node.findtext("filename") or "").strip()
    if fn and (root / "JPEGImages" / fn).is_file():
        return root / "JPEGImages" / fn
    for suf in (".jpg", ".jpeg", ".png", *sorted(IMAGE_SUFFIXES)):
        p = root / "JPEGImages" / f"{image_id}{suf}"
        if p.is_file():
            return p
    return root / "JPEGImages" / (fn or f"{image_id}.jpg")


def index_voc(root: Path, list_file: Path, names: list[str], split: str, decode: bool = False,
              known: list[str] | None = None) -> tuple[list[ImageRecord], list[Issue]]:
    """Index one VOC split against ``names`` (class index = position in ``names``). ``known``: all the data's
    class names when ``names`` keeps only some (the data YAML's ``classes``): objects of the others are left
    out and counted in one 'info' issue; names in neither are label errors."""
    root = Path(root)
    cls_index = {n: i for i, n in enumerate(names)}
    other = set(known or names) - set(names)
    left_out = 0
    issues: list[Issue] = []
    records: list[ImageRecord] = []
    for k, image_id in enumerate(read_split_ids(list_file)):
        xml_file = root / "Annotations" / f"{image_id}.xml"
        node, problem = _parse(xml_file)
        if node is None:
            issues.append(Issue(str(xml_file), problem if xml_file.is_file() else "annotation file not found",
                                "rejected", split=split))
            continue
        hw = _size(xml_file, node, split, issues)
        if hw is None:
            continue
        path = _image_path(root, image_id, node)
        size = _check_image(path, decode, split, issues)
        if size is None:
            continue
        h, w = hw
        if isinstance(size, tuple) and (size[0], size[1]) != (h, w):
            issues.append(Issue(str(xml_file), f"decoded size {size[1]}x{size[0]} differs from <size> {w:g}x{h:g}; "
                                "using the decoded size", "warning", split=split))
            h, w = float(size[0]), float(size[1])
        objs = _Objects(str(xml_file), cls_index, names, other, split, issues)
        for j, obj in enumerate(node.iter("object")):
            objs.add(j, obj, w, h)
        left_out += objs.left_out
        records.append(ImageRecord(str(path), k, int(h), int(w), _arr(objs.boxes), np.array(objs.classes, np.int64),
                                   _arr(objs.crowd), crowd_classes=np.array(objs.crowd_cls, np.int64), stem_ids=True))
    if left_out:
        issues.append(Issue(str(list_file), f"{left_out} objects of other classes left out (data YAML classes)",
                            "info", split=split))
    return records, issues


def _size(xml_file: Path, node, split: str, issues: list[Issue]) -> tuple[float, float] | None:
    """(height, width) from <size>; None (listed) when missing or not positive."""
    try:
        w = float(node.findtext("size/width"))
        h = float(node.findtext("size/height"))
        if w <= 0 or h <= 0:
            raise ValueError
    except (TypeError, ValueError):
        issues.append(Issue(str(xml_file), "missing or invalid <size> (width and height must be positive numbers)",
                            "rejected", split=split))
        return None
    return h, w


class _Objects:
    """One XML file's objects: boxes and classes, ``difficult`` ones as ignore regions of their class
    (detectron2's reading: 1-based inclusive pixels -> ``xmin - 1, ymin - 1, xmax, ymax``)."""

    def __init__(self, xml_file: str, cls_index: dict, names: list[str], other: set, split: str,
                 issues: list[Issue]):
        self.xml_file, self.cls_index, self.names, self.other = xml_file, cls_index, names, other
        self.split, self.issues = split, issues
        self.boxes, self.classes, self.crowd, self.crowd_cls, self.left_out = [], [], [], [], 0

    def _issue(self, msg: str, level: str = "rejected") -> None:
        self.issues.append(Issue(self.xml_file, msg, level, split=self.split))

    def add(self, j: int, obj, w: float, h: float) -> None:
        name = (obj.findtext("name") or "").strip()
        where = f"object {j} ({name or 'no name'})"
        if name in self.other:
            self.left_out += 1
            return
        if name not in self.cls_index:
            names = self.names
            return self._issue(f"{where}: unknown class {name!r} (the data has {len(names)}: "
                               f"{names[:6]}{' ...' if len(names) > 6 else ''})")
        try:
            x1, y1, x2, y2 = (float(obj.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError):
            return self._issue(f"{where}: <bndbox> needs numeric xmin, ymin, xmax, ymax")
        box, prob = _clip_box([x1 - 1, y1 - 1, x2, y2], w, h, tol=1.0)
        if prob:
            self._issue(f"{where}: {prob}", "warning" if box else "rejected")
        if box is None:
            return
        if (obj.findtext("difficult") or "0").strip() in ("1", "true"):
            self.crowd.append(box)
            self.crowd_cls.append(self.cls_index[name])
        else:
            self.boxes.append(box)
            self.classes.append(self.cls_index[name])
