"""Dataset indexing with label checks: YOLO txt -> ImageRecords + Issues, and the box rules that the COCO
json indexing (``coco_index.py``) shares.

Nothing is dropped silently: every skipped image, rejected box, clipped box or removed
duplicate becomes an :class:`Issue` naming the file, the line or annotation id and the reason.

Box rules (original-image pixels, xyxy):
  - NaN/inf coordinates, zero or negative width/height, unknown class/category, wrong column
    count, non-numeric fields: the box is **rejected**.
  - a box partly outside the image is **clipped** to it (warning); entirely outside: rejected.
  - an exact duplicate of an earlier box (same class, same coordinates) is removed (warning).
  - crowd annotations (``iscrowd: 1``) become ignore regions, never positives.
Images that are missing, empty, not images or undecodable are **rejected** (skipped); images
without annotations stay in as background.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .image_io import IMAGE_SUFFIXES, ImageReadError, read_image, sniff_image


@dataclass
class Issue:
    file: str
    reason: str
    severity: str  # 'rejected' (item not used), 'warning' (used after a fix) or 'info' (left out by request)
    line: int | None = None  # 1-based line of a YOLO label file
    ann_id: int | None = None  # COCO annotation id
    split: str | None = None

    def __str__(self) -> str:
        where = f":{self.line}" if self.line else (f" (annotation {self.ann_id})" if self.ann_id is not None else "")
        return f"{self.severity}: {self.file}{where}: {self.reason}"


@dataclass
class ImageRecord:
    path: str
    image_id: int
    height: int | None  # as annotated (COCO) or None until read (YOLO)
    width: int | None
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # [N, 4] xyxy px
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))  # [N] contiguous ids
    crowd: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # [M, 4] ignore regions
    apply_exif: bool = True
    normalized: bool = False  # YOLO: boxes in [0, 1] until the image size is known
    crowd_classes: np.ndarray | None = None  # [M] class of each ignore region, when known (VOC 'difficult')
    stem_ids: bool = False  # results files name this image by its file stem (YOLO txt, VOC), not by image_id
    name: str | None = None  # the image's path relative to its split's image root ('seq1/000001.jpg'), as COCO's
    # file_name: unique per image where bare file names repeat across sub-folders (record_name())
    segments: list | None = None  # per box: its instance mask (flat polygons in the boxes' units, or a COCO
    # RLE dict) or None; None for the whole record when the labels carry no masks (copy-paste donors)


def record_name(r: ImageRecord) -> str:
    """The image's name in our files: its path relative to the split's image root (unique per image)."""
    return r.name or Path(r.path).name


def _relative_name(path: Path, root: Path) -> str:
    p, r = str(path), str(root).rstrip(os.sep)
    if p.startswith(r + os.sep) and os.sep + ".." + os.sep not in p and "/./" not in p:  # the common case, cheaply
        return p[len(r) + 1:].replace(os.sep, "/")
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(path).name


def _check_image(path: Path, decode: bool, split: str, issues: list[Issue]) -> tuple[int, int] | None | bool:
    """Header check (and full decode if ``decode``). Returns (h, w) when decoded, True when only
    sniffed fine, None when rejected."""
    fmt, problem = sniff_image(path)
    if fmt is None:
        issues.append(Issue(str(path), problem, "rejected", split=split))
        return None
    result: tuple[int, int] | bool = True
    if decode:
        try:
            result = read_image(path).shape[:2]
        except ImageReadError as e:
            issues.append(Issue(str(path), str(e).split(": ", 1)[-1], "rejected", split=split))
            return None
    if problem:  # e.g. truncated JPEG whose decodable part is used
        issues.append(Issue(str(path), problem, "warning", split=split))
    return result


def _clip_box(b: list[float], w: float, h: float, tol: float = 0.0) -> tuple[list[float] | None, str | None]:
    """Validate one xyxy box against an image; returns (box or None, problem or None).

    Overshoot up to ``tol`` (label rounding) is clipped without a warning. (Written out without generators:
    it runs once per box, 860 k times for COCO train2017.)"""
    x1, y1, x2, y2 = b
    if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)):
        return None, f"box has NaN/inf coordinates {b}"
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None, f"box has zero or negative size {[round(v, 3) for v in b]}"
    if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
        return None, f"box entirely outside the {w:g}x{h:g} image {[round(v, 3) for v in b]}"
    c = [x1 if x1 > 0.0 else 0.0, y1 if y1 > 0.0 else 0.0, x2 if x2 < w else w, y2 if y2 < h else h]
    if max(abs(c[0] - x1), abs(c[1] - y1), abs(c[2] - x2), abs(c[3] - y2)) > tol:
        return c, f"box partly outside the {w:g}x{h:g} image, clipped {[round(v, 2) for v in b]} -> {[round(v, 2) for v in c]}"
    return c, None


def _inside(path: Path, root: Path) -> bool:
    """Does ``path`` resolve to somewhere under ``root`` (``../`` and absolute names do not)?"""
    try:
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root))
    except (OSError, ValueError):
        return False


def _check_coco_structure(data: dict, ann_file) -> None:
    """What pycocotools and the indexing below take for granted, said in one sentence instead of a
    KeyError / TypeError deep inside: every image and category an object with an integer id, every
    annotation an object."""
    for key in ("images", "categories"):
        for k, x in enumerate(data[key]):
            if not isinstance(x, dict):
                raise ValueError(f"{ann_file}: {key}[{k}] is {x!r}, not an object")
            if "id" not in x:
                raise ValueError(f"{ann_file}: {key}[{k}] has no 'id' ({_short(x)})")
            if not isinstance(x["id"], int) or isinstance(x["id"], bool):
                raise ValueError(f"{ann_file}: {key}[{k}] has id {x['id']!r}; ids must be integers")
    for k, a in enumerate(data["annotations"]):
        if not isinstance(a, dict):
            raise ValueError(f"{ann_file}: annotations[{k}] is {_short(a)}, not an object")


def _short(x, n: int = 120) -> str:
    """A bounded repr for error messages (a huge or deeply nested value must not flood them)."""
    try:
        r = repr(x)
    except (RecursionError, MemoryError):
        return f"<{type(x).__name__}>"
    return r if len(r) <= n else r[:n] + "..."


def _coco_segment(seg):
    """A usable instance mask of a COCO annotation (polygons with >= 3 points, or an RLE dict), else None."""
    if isinstance(seg, list):
        polys = [p for p in seg if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
                 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in p)]
        return polys or None
    if isinstance(seg, dict) and "counts" in seg and isinstance(seg.get("size"), list):
        return seg
    return None


def _unique_images(images: list, ann_file, split: str, issues: list[Issue]) -> tuple[list[dict], set]:
    """Images whose id is shared with another image, or whose file is listed twice, are errors: boxes
    would be attached to the wrong picture. All images sharing an id are rejected (with their boxes);
    a file listed again under another id is rejected after its first entry."""
    count: dict = {}
    for im in images:
        count[im.get("id")] = count.get(im.get("id"), 0) + 1
    dup_ids = {i for i, n in count.items() if n > 1}
    out, files = [], {}
    for im in images:
        iid, fn = im.get("id"), im.get("file_name")
        if iid in dup_ids:
            issues.append(Issue(str(ann_file), f"image id {iid!r} is used by {count[iid]} images (file {fn!r}); "
                                "their annotations cannot be told apart", "rejected", split=split))
            continue
        if fn in files:
            issues.append(Issue(str(ann_file), f"image file {fn!r} is listed twice (ids {files[fn]!r} and {iid!r}); "
                                "the second entry is left out", "rejected", split=split))
            continue
        files[fn] = iid
        out.append(im)
    return out, dup_ids


def _arr(boxes: list) -> np.ndarray:
    return np.array(boxes, np.float32).reshape(-1, 4)


class _LabelPaths:
    """:func:`label_path_for` of many images, the folder rule worked out once per folder."""

    def __init__(self):
        self.dirs: dict[Path, Path] = {}

    def __call__(self, image: Path) -> Path:
        d = self.dirs.get(image.parent)
        if d is None:
            d = self.dirs[image.parent] = label_path_for(image).parent
        return d / (image.stem + ".txt")


def label_path_for(image: Path) -> Path:
    """YOLO rule: the last 'images' directory in the path becomes 'labels', suffix -> .txt."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


MAX_TREE_ENTRIES = 5_000_000  # files and folders under one image / label root: Open Images' 1.9 M train images
# with their labels pass; a data YAML pointed at '/', a home or a mount of everything does not


def iter_tree(root: Path, split: str | None = None, issues: list[Issue] | None = None,
              limit: int = MAX_TREE_ENTRIES):
    """``os.walk`` of ``root`` yielding (dirpath, sorted file names), following symbolic links to folders
    as other tools do (a link back to a folder already walked is skipped: no loops). Unreadable folders
    (no permission) are skipped with an 'info' issue. The file-system root and a tree of more than
    ``limit`` entries are refused with a ValueError: a mistaken ``path:`` must not walk the machine."""
    if os.path.abspath(root) == os.path.abspath(os.sep):
        raise ValueError(f"{root}: is the file-system root; point the data YAML at the dataset's folder")
    seen: set = set()
    n = 0

    def onerror(e: OSError) -> None:
        if issues is not None:
            issues.append(Issue(str(e.filename), f"folder not readable, skipped ({e.strerror})", "info", split=split))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=onerror):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_ino, st.st_dev) in seen:  # a symlink loop or a second link to the same folder
            dirnames[:] = []
            continue
        seen.add((st.st_ino, st.st_dev))
        n += len(dirnames) + len(filenames)
        if n > limit:
            raise ValueError(f"{root}: more than {limit:,} files and folders under it; is it the dataset's folder? "
                             "(refused: a data YAML's path must point at the images, not at a whole disk)")
        dirnames.sort()
        yield dirpath, sorted(filenames)


def walk_files(root: Path, split: str | None = None, issues: list[Issue] | None = None) -> list[Path]:
    """Every file under ``root`` (:func:`iter_tree`: links followed, loops and unreadable folders skipped,
    huge trees refused)."""
    out: list[Path] = []
    for dirpath, filenames in iter_tree(root, split, issues):
        base = Path(dirpath)
        isfile = os.path.isfile
        out.extend(base / f for f in filenames if isfile(os.path.join(dirpath, f)))
    return out


def list_images(source: Path, split: str, issues: list[Issue]) -> list[Path]:
    """Image files of a directory (recursive) or a .txt list; non-image files are reported."""
    if source.is_file() and source.suffix == ".txt":
        base = source.parent
        files = [(base / ln.strip()) if not Path(ln.strip()).is_absolute() else Path(ln.strip())
                 for ln in source.read_text(encoding="utf-8").splitlines() if ln.strip()]
    elif source.is_dir():
        files = sorted(walk_files(source, split, issues))
    else:
        raise ValueError(f"{source}: image directory or list not found")
    out = []
    for p in files:
        if p.suffix.lower() in IMAGE_SUFFIXES:
            out.append(p)
        elif p.name.startswith("."):
            continue
        else:
            issues.append(Issue(str(p), f"not an image file (suffix {p.suffix or 'none'})", "rejected", split=split))
    return out


def yolo_image_ids(paths: list[Path]) -> list[int]:
    """Image ids of a YOLO-txt split, Ultralytics' convention: ``int(stem)`` when every file stem is a
    number and no two are equal (COCO-style names such as ``000000000139.jpg``), else the position in
    the sorted list (results files then identify images by ``file_name`` or by the stem)."""
    stems = [p.stem for p in paths]
    if stems and all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return [int(s) for s in stems]
    return list(range(len(paths)))


def _orphan_labels(sources: list, labels: list[Path], split: str) -> list[Issue]:
    """Label files under an image folder's labels/ twin whose image is not there (deleted, renamed,
    another suffix): their boxes train nothing, so they are named. ``labels``: the images' label paths."""
    have = {str(p) for p in labels}
    out = []
    for src in sources:
        src = Path(src)
        if not src.is_dir():
            continue
        lroot = label_path_for(src / "x.jpg").parent
        if lroot == src or not lroot.is_dir():
            continue
        for t in sorted(walk_files(lroot)):
            if t.suffix == ".txt" and str(t) not in have:
                out.append(Issue(str(t), "label file without an image (no image of this name in "
                                 f"{src}); its boxes are not used", "rejected", split=split))
    return out


def index_yolo(images: Path | list[Path], nc: int, split: str, decode: bool = False,
               class_map: dict[int, int] | None = None) -> tuple[list[ImageRecord], list[Issue]]:
    """Index a YOLO-txt split: ``class cx cy w h`` (normalized) per line, one file per image (``images``:
    a folder or list file, or several, as Ultralytics' ``train: [a, b]``). ``class_map``: file class ->
    kept class (the data YAML's ``classes``); other classes are left out and counted in one 'info' issue."""
    issues: list[Issue] = []
    left_out = 0
    records = []
    sources = images if isinstance(images, list) else [images]
    paths, names = [], {}
    for src in sources:
        found = list_images(Path(src), split, issues)
        root = Path(src) if Path(src).is_dir() else Path(src).parent
        names.update((p, _relative_name(p, root)) for p in found)
        paths += found
    label_of = _LabelPaths()
    lbls = [label_of(p) for p in paths]
    issues += _orphan_labels(sources, lbls, split)
    for image_id, path, lbl in zip(yolo_image_ids(paths), paths, lbls):
        size = _check_image(path, decode, split, issues)
        if size is None:
            continue
        text = _read_label(lbl, split, issues)
        if text is False:
            continue
        boxes, classes, segs, out = _parse_label(text or "", str(lbl), nc, class_map, split, issues)
        left_out += out
        hw = size if isinstance(size, tuple) else (None, None)
        records.append(ImageRecord(str(path), image_id, hw[0], hw[1], _arr(boxes), np.array(classes, np.int64),
                                   normalized=True, stem_ids=True, name=names.get(path),
                                   segments=segs if any(x is not None for x in segs) else None))
    if left_out:
        issues.append(Issue(str(images), f"{left_out} boxes of other classes left out (data YAML classes)",
                            "info", split=split))
    return records, issues


def _read_label(lbl: Path, split: str, issues: list[Issue]):
    """The label file's text; None when there is none (a background image); False when unreadable (listed)."""
    try:
        with open(lbl, encoding="utf-8-sig") as f:  # -sig: a BOM some editors write
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as e:
        issues.append(Issue(str(lbl), f"unreadable label file: {e}", "rejected", split=split))
        return False


def _parse_label(text: str, lbl: str, nc: int, class_map: dict[int, int] | None, split: str,
                 issues: list[Issue]) -> tuple[list, list, list, int]:
    """One label file's (boxes normalized xyxy, classes, polygons, boxes left out by ``class_map``); every
    rejected or repaired line becomes an :class:`Issue` naming the file and line. One call per file, the line
    loop inline: at COCO's size this runs for 860 k lines."""
    boxes, classes, segs, seen, left_out = [], [], [], {}, 0
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5 and (len(parts) < 7 or len(parts) % 2 == 0):
            issues.append(Issue(lbl, f"expected 5 columns 'class cx cy w h' or a YOLO-seg polygon 'class x1 "
                                f"y1 x2 y2 x3 y3 ...', got {len(parts)}", "rejected", line=n, split=split))
            continue
        try:
            vals = [float(v) for v in parts]
        except ValueError:
            issues.append(Issue(lbl, f"non-numeric field in {line.strip()!r}", "rejected", line=n, split=split))
            continue
        c = vals[0]
        if not c.is_integer() or not 0 <= c < nc:
            issues.append(Issue(lbl, f"unknown class id {parts[0]} (dataset has {nc} classes)", "rejected",
                                line=n, split=split))
            continue
        if class_map is not None:
            if int(c) not in class_map:
                left_out += 1
                continue
            c = float(class_map[int(c)])
        poly = None
        if len(vals) == 5:
            cx, cy, bw, bh = vals[1:]
            raw = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]
        else:  # YOLO-seg: the polygon's extent is the box, the polygon the instance mask
            poly = vals[1:]
            raw = [min(poly[0::2]), min(poly[1::2]), max(poly[0::2]), max(poly[1::2])]
        box, problem = _clip_box(raw, 1.0, 1.0, tol=1e-3)
        if problem:
            issues.append(Issue(lbl, problem.replace("1x1 image", "image (normalized)"),
                                "warning" if box else "rejected", line=n, split=split))
        if box is None:
            continue
        key = (int(c), *box)
        if key in seen:
            issues.append(Issue(lbl, f"duplicate of line {seen[key]}, removed", "warning", line=n, split=split))
            continue
        seen[key] = n
        boxes.append(box)
        classes.append(int(c))
        segs.append([poly] if poly is not None else None)
    return boxes, classes, segs, left_out


def issues_to_json(issues: list[Issue]) -> list[dict]:
    return [{k: v for k, v in asdict(i).items() if v is not None} for i in issues]
