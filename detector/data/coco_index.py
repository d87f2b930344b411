"""COCO instances json -> :class:`~detector.data.table.RecordTable` + Issues, at COCO's size.

The json is read in one pass with the standard library's decoder, one annotation at a time
(:func:`stream_coco`): each annotation is reduced to a few numbers and its polygons to a float array as
soon as it is parsed, so the 860 k annotation dicts of COCO train2017 and their tens of millions of
Python floats never exist at once. The label rules (``records.py``'s module docstring) are then applied
with numpy over all annotations; an :class:`~detector.data.records.Issue` is built only for the rows that
have one, with the same words as the per-box rules.
"""
from __future__ import annotations

import json
import re
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils.safe_load import out_of_memory, read_json
from .records import Issue, _check_coco_structure, _check_image, _clip_box, _inside, _short, _unique_images
from .table import RecordTable, _offsets

_WS = re.compile(r"[ \t\n\r]*")
STREAMED = object()  # the value of the top-level 'annotations' key once its elements went to _Annotations.add


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lens)])``, vectorized."""
    lens = np.asarray(lens, np.int64)
    total = int(lens.sum())
    if not total:
        return np.zeros(0, np.int64)
    return np.repeat(np.asarray(starts, np.int64) - (np.cumsum(lens) - lens), lens) + np.arange(total)


class _Annotations:
    """Columns of every annotation, in file order (one ``add`` per parsed annotation)."""

    def __init__(self):
        self.ids, self.image_ids, self.cat_ids = [], [], []
        self.bbox = array("d")
        self.bad_bbox: dict[int, str] = {}  # row -> the bbox as written, when not 4 numbers
        self.crowd = bytearray()
        self.seg_kind = bytearray()
        self.polys = array("q")  # polygons per annotation
        self.poly_len = array("q")
        self.coords = array("f")  # float32, as the table keeps them
        self.rle: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, a, k: int, source) -> None:
        if type(a) is not dict:
            raise ValueError(f"{source}: annotations[{k}] is {_short(a)}, not an object")
        get = a.get
        self.ids.append(get("id"))
        self.image_ids.append(get("image_id"))
        self.cat_ids.append(get("category_id"))
        self.crowd.append(1 if get("iscrowd", 0) else 0)
        b = get("bbox")
        try:
            if type(b) is not list or len(b) != 4:
                raise TypeError
            self.bbox.fromlist(b)  # all or nothing: a non-number leaves the array as it was
        except (TypeError, OverflowError):
            self.bad_bbox[len(self.ids) - 1] = _short(b)
            self.bbox.extend((0.0, 0.0, 0.0, 0.0))
        s = get("segmentation")
        n = 0
        if type(s) is list:
            for p in s:
                if type(p) is list and len(p) >= 6 and not len(p) & 1:
                    try:
                        self.coords.fromlist(p)
                    except (TypeError, OverflowError):
                        continue
                    self.poly_len.append(len(p))
                    n += 1
            self.seg_kind.append(1 if n else 0)
        elif type(s) is dict and "counts" in s and isinstance(s.get("size"), list):
            self.rle[len(self.ids) - 1] = s
            self.seg_kind.append(2)
        else:
            self.seg_kind.append(0)
        self.polys.append(n)


def stream_coco(path: Path, anns: _Annotations) -> dict:
    """Parse the COCO json at ``path``: every element of its top-level ``annotations`` list goes to
    ``anns.add`` as it is parsed; the other top-level values are returned. A file whose top level is
    not an object is read whole (its shape is reported by the caller)."""
    try:
        text = Path(path).read_bytes()
        text = text.decode("utf-8")
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e}") from None
    except UnicodeDecodeError:
        return read_json(path)  # UTF-16/32 json: json.loads detects it
    except MemoryError:
        raise out_of_memory(path) from None
    i = _WS.match(text, 0).end()
    if not text.startswith("{", i):
        del text
        return read_json(path)
    dec, out = json.JSONDecoder(), {}
    try:
        i = _WS.match(text, i + 1).end()
        while not text.startswith("}", i):
            key, i = dec.raw_decode(text, i)
            i = _WS.match(text, i).end()
            if not text.startswith(":", i) or not isinstance(key, str):
                raise json.JSONDecodeError("Expecting ':' after an object key", text, i)
            i = _WS.match(text, i + 1).end()
            if key == "annotations" and text.startswith("[", i):
                if len(anns):
                    raise ValueError(f"{path}: has two 'annotations' lists")
                i = _WS.match(text, i + 1).end()
                k = 0
                while not text.startswith("]", i):
                    a, i = dec.raw_decode(text, i)
                    anns.add(a, k, path)
                    k += 1
                    i = _WS.match(text, i).end()
                    if text.startswith(",", i):
                        i = _WS.match(text, i + 1).end()
                    elif not text.startswith("]", i):
                        raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
                out[key] = STREAMED  # present; its content went to anns
                i += 1
            else:
                out[key], i = dec.raw_decode(text, i)
            i = _WS.match(text, i).end()
            if text.startswith(",", i):
                i = _WS.match(text, i + 1).end()
            elif not text.startswith("}", i):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
        if text[i + 1:].strip():
            raise json.JSONDecodeError("Extra data", text, i + 1)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to read (over Python's recursion limit); refused") from None
    except MemoryError:
        raise out_of_memory(path, len(text)) from None
    return out


def _lookup(keys: list, table: dict, missing: int) -> np.ndarray:
    """``table[key]`` for each key (``missing`` where absent or unhashable) as an int64 array."""
    try:
        return np.fromiter((table.get(k, missing) for k in keys), np.int64, len(keys))
    except TypeError:  # an unhashable id (a list or an object) in some row
        def get(k):
            try:
                return table.get(k, missing)
            except TypeError:
                return missing
        return np.fromiter((get(k) for k in keys), np.int64, len(keys))


def index_coco(images_dir: Path, ann_file: Path, split: str, decode: bool = False, keep: list[str] | None = None,
               allow_outside: bool = False) -> tuple[RecordTable, list[Issue], list[int], list[str]]:
    """Parse a COCO instances json. Returns (records, issues, category ids in contiguous order, names).
    ``keep``: category names to keep (the data YAML's ``classes``); the others' annotations, crowd
    regions included, are left out and counted in one 'info' issue."""
    anns = _Annotations()
    try:
        data = stream_coco(ann_file, anns)
    except ValueError as e:
        raise ValueError(f"{ann_file}: cannot read COCO annotations: {str(e).split(': ', 1)[-1]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{ann_file}: not a COCO instances file (a {type(data).__name__} at top level)")
    if isinstance(data.get("annotations"), list):  # read whole, not streamed (a UTF-16 file)
        for k, a in enumerate(data["annotations"]):
            anns.add(a, k, ann_file)
        data["annotations"] = STREAMED
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list) and data.get(key) is not STREAMED:
            raise ValueError(f"{ann_file}: not a COCO instances file (no '{key}' list)")
    _check_coco_structure({"images": data["images"], "categories": data["categories"], "annotations": []}, ann_file)
    issues: list[Issue] = []
    cats = sorted(data["categories"], key=lambda c: c["id"])
    all_ids = {int(c["id"]) for c in cats}
    if keep is not None:
        have = [str(c.get("name", c["id"])) for c in cats]
        missing = [n for n in keep if n not in have]
        if missing:
            raise ValueError(f"{ann_file}: 'classes' names {missing} are not categories of this json "
                             f"(it has {len(have)}: {have[:10]}{' ...' if len(have) > 10 else ''})")
        cats = [c for c in cats if str(c.get("name", c["id"])) in keep]
    cat_ids = [int(c["id"]) for c in cats]
    names = [str(c.get("name", c["id"])) for c in cats]

    images, dup_ids = _unique_images(data["images"], ann_file, split, issues)
    del data
    table, ann_issues = _build(images, dup_ids, anns, cat_ids, all_ids, images_dir, ann_file, split, decode,
                               allow_outside, names)
    return table, issues + ann_issues, cat_ids, names


def _build(images, dup_ids, anns: _Annotations, cat_ids, all_ids, images_dir, ann_file, split, decode, allow_outside,
           names) -> tuple[RecordTable, list[Issue]]:
    """The label rules over every annotation -> (the split's table, its issues in image order)."""
    src = str(ann_file)
    early, img_pos = _file_order_checks(anns, images, dup_ids, src, split)
    paths = [Path(images_dir) / str(im.get("file_name", "")) for im in images]
    ok_img, heights, widths, exif, per_image = _image_checks(images, paths, images_dir, allow_outside, decode, src,
                                                             split)
    r = _classify_rows(anns, img_pos, ok_img, heights, widths, cat_ids, all_ids)
    by_img: dict[int, list[Issue]] = {}
    for k, iss in _row_issues(r, anns, src, split):
        by_img.setdefault(k, []).append(iss)
    issues = list(early)
    for k in range(len(images)):
        issues += per_image[k]
        issues += by_img.get(k, [])
    if r.left_out.any():
        issues.append(Issue(src, f"{int(r.left_out.sum())} annotations of other categories left out (data YAML "
                            f"classes: {names})", "info", split=split))
    kept = np.nonzero(ok_img)[0]
    new_pos = np.full(len(images), -1, np.int64)
    new_pos[kept] = np.arange(len(kept))
    b, c = r.boxes_m, r.crowd
    table = _table(images, kept, paths, heights, widths, exif, new_pos, r.ip[b], r.clip[b], r.cls[b], r.ip[c],
                   r.clip[c], r.rows[b], anns)
    return table, issues


def _file_order_checks(anns: _Annotations, images: list[dict], dup_ids: set, src: str,
                       split: str) -> tuple[list[Issue], np.ndarray]:
    """Shared and unknown image ids, repeated annotation ids, in file order -> (issues, each annotation's
    image position, -1 where it has none)."""
    n = len(anns)
    early: list[Issue] = []
    img_pos = _lookup(anns.image_ids, {im.get("id"): k for k, im in enumerate(images)}, -1)
    dup = _lookup(anns.image_ids, {i: 1 for i in dup_ids}, 0) == 1 if dup_ids else np.zeros(n, bool)
    seen_ann: set = set()
    for r in range(n):
        if dup[r]:
            early.append(Issue(src, f"annotation for image_id {anns.image_ids[r]!r}, which several images share",
                               "rejected", ann_id=anns.ids[r], split=split))
        elif img_pos[r] < 0:
            early.append(Issue(src, f"annotation for unknown image_id {anns.image_ids[r]!r}", "rejected",
                               ann_id=anns.ids[r], split=split))
        else:
            aid = anns.ids[r]
            try:
                if aid in seen_ann and aid is not None:
                    early.append(Issue(src, f"duplicate annotation id {aid!r} (ids must be unique; this one is used, "
                                       "but tools that index by id will confuse them)", "warning", ann_id=aid,
                                       split=split))
                seen_ann.add(aid)
            except TypeError:  # an unhashable id
                pass
    img_pos[dup] = -1
    return early, img_pos


def _image_checks(images, paths, images_dir, allow_outside, decode, src, split):
    """Each image's path inside the folder, header (or decode) and size -> (usable [N] bool, heights [N],
    widths [N], EXIF to apply [N], issues per image)."""
    ok_img = np.ones(len(images), bool)
    per_image: list[list[Issue]] = [[] for _ in images]
    checkable = []
    for k, p in enumerate(paths):
        if not allow_outside and not _inside(p, images_dir):
            per_image[k].append(Issue(src, f"image {images[k].get('id')!r}: file_name {images[k].get('file_name')!r} "
                                      f"points outside the images folder {images_dir} (refused; set allow_outside for "
                                      "a json that does so on purpose)", "rejected", split=split))
            ok_img[k] = False
        else:
            checkable.append(k)
    heights = np.zeros(len(images), np.int64)
    widths = np.zeros(len(images), np.int64)
    exif = np.ones(len(images), bool)
    for k in checkable:  # sequential: a thread pool was 5x slower with the files in the page cache (BENCHMARKS)
        size = _check_image(paths[k], decode, split, per_image[k])
        if size is None:
            ok_img[k] = False
            continue
        im = images[k]
        w, h = float(im.get("width", 0) or 0), float(im.get("height", 0) or 0)
        if isinstance(size, tuple) and (size[0], size[1]) != (h, w):
            if (size[1], size[0]) == (h, w):  # json size matches the raw (un-rotated) pixels
                exif[k] = False
            else:
                per_image[k].append(Issue(str(paths[k]), f"decoded size {size[1]}x{size[0]} differs from the json's "
                                          f"{w:g}x{h:g}; using the decoded size", "warning", split=split))
                h, w = float(size[0]), float(size[1])
        if w <= 0 or h <= 0:
            per_image[k].append(Issue(src, f"image {im.get('id')} has no valid width/height", "rejected", split=split))
            ok_img[k] = False
            continue
        heights[k], widths[k] = int(h), int(w)
    return ok_img, heights, widths, exif, per_image


@dataclass
class _Rows:
    """The annotations of usable images, grouped by image in file order, and what the rules found."""
    rows: np.ndarray  # [R] annotation row in the file
    ip: np.ndarray  # [R] image position
    cls: np.ndarray  # [R] contiguous class (-1 unknown)
    raw: np.ndarray  # [R, 4] xyxy as written
    clip: np.ndarray  # [R, 4] clipped to the image
    W: np.ndarray  # [R] image width
    H: np.ndarray  # [R] image height
    bad_bbox: np.ndarray  # [R] bool: not 4 numbers
    unknown: np.ndarray  # [R] bool: unknown category
    left_out: np.ndarray  # [R] bool: a category the data YAML's classes leave out
    box_bad: np.ndarray  # [R] bool: rejected box (non-finite, empty, outside)
    clipped: np.ndarray  # [R] bool: clipped beyond the rounding tolerance
    usable: np.ndarray  # [R] bool
    crowd: np.ndarray  # [R] bool: an ignore region
    dup: np.ndarray  # [R] bool: a duplicate box, removed
    first_of: dict  # duplicate's position -> the kept box's position
    boxes_m: np.ndarray  # [R] bool: a training box


def _classify_rows(anns: _Annotations, img_pos, ok_img, heights, widths, cat_ids, all_ids) -> _Rows:
    """The box rules (``records.py``'s docstring) for every annotation of a usable image, in numpy."""
    rows = np.nonzero((img_pos >= 0) & ok_img[np.maximum(img_pos, 0)])[0]
    rows = rows[np.argsort(img_pos[rows], kind="stable")]
    ip = img_pos[rows]
    cls = _lookup(anns.cat_ids, {cid: i for i, cid in enumerate(cat_ids)}, -1)[rows]
    known_other = _lookup(anns.cat_ids, {c: 1 for c in all_ids - set(cat_ids)}, 0)[rows] == 1
    bb = np.frombuffer(anns.bbox, np.float64).reshape(-1, 4)[rows]
    bad_bbox = np.array([r in anns.bad_bbox for r in rows.tolist()], bool) if anns.bad_bbox else np.zeros(len(rows), bool)
    W, H = widths[ip].astype(np.float64), heights[ip].astype(np.float64)
    raw = np.concatenate([bb[:, :2], bb[:, :2] + bb[:, 2:]], 1)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(raw).all(1)
        empty = ~((raw[:, 2] - raw[:, 0] > 0) & (raw[:, 3] - raw[:, 1] > 0))
        outside = (raw[:, 2] <= 0) | (raw[:, 3] <= 0) | (raw[:, 0] >= W) | (raw[:, 1] >= H)
        clip = np.stack([np.maximum(0.0, raw[:, 0]), np.maximum(0.0, raw[:, 1]), np.minimum(W, raw[:, 2]),
                         np.minimum(H, raw[:, 3])], 1)
        clipped = np.abs(clip - raw).max(1) > 0.5
    left_out = ~bad_bbox & known_other
    unknown = ~bad_bbox & ~known_other & (cls < 0)
    box_bad = ~bad_bbox & ~left_out & ~unknown & (~finite | empty | outside)
    usable = ~bad_bbox & ~left_out & ~unknown & ~box_bad
    crowd = usable & (np.frombuffer(bytes(anns.crowd), np.uint8)[rows] == 1)
    # duplicates (same image, class and clipped box) among the usable non-crowd rows: the first is kept
    cand = np.nonzero(usable & ~crowd)[0]
    keyed = np.concatenate([ip[cand, None].astype(np.float64), cls[cand, None].astype(np.float64), clip[cand]], 1)
    dup = np.zeros(len(rows), bool)
    first_of = {}
    if len(cand):
        _, first, inverse = np.unique(keyed, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        is_dup = first[inverse] != np.arange(len(cand))
        dup[cand[is_dup]] = True
        first_of = dict(zip(cand[is_dup].tolist(), cand[first[inverse[is_dup]]].tolist()))
    return _Rows(rows, ip, cls, raw, clip, W, H, bad_bbox, unknown, left_out, box_bad, clipped, usable, crowd, dup,
                 first_of, usable & ~crowd & ~dup)


def _row_issues(r: _Rows, anns: _Annotations, src: str, split: str) -> list[tuple[int, Issue]]:
    """(image position, issue) of the rows that have one, in image and then file order, in the per-box
    rules' own words (``records._clip_box`` for the boxes)."""
    out: list[tuple[int, int, Issue]] = []
    ids = anns.ids
    for j in np.nonzero(r.bad_bbox | r.unknown | r.box_bad | (r.usable & r.clipped) | r.dup)[0].tolist():
        row = int(r.rows[j])
        aid = ids[row]
        if r.bad_bbox[j]:
            iss = Issue(src, f"bbox must be 4 numbers [x, y, w, h], got {anns.bad_bbox[row]}", "rejected", ann_id=aid,
                        split=split)
        elif r.unknown[j]:
            iss = Issue(src, f"unknown category_id {anns.cat_ids[row]!r}", "rejected", ann_id=aid, split=split)
        else:
            box, problem = _clip_box([float(v) for v in r.raw[j]], float(r.W[j]), float(r.H[j]), tol=0.5)
            if problem:
                out.append((int(r.ip[j]), j, Issue(src, problem, "warning" if box else "rejected", ann_id=aid,
                                                   split=split)))
            if not r.dup[j]:
                continue
            iss = Issue(src, f"duplicate of annotation {ids[int(r.rows[r.first_of[j]])]}, removed", "warning",
                        ann_id=aid, split=split)
        out.append((int(r.ip[j]), j, iss))
    out.sort(key=lambda t: (t[0], t[1]))
    return [(k, iss) for k, _, iss in out]


def _table(images, kept, paths, heights, widths, exif, new_pos, box_img, boxes, classes, crowd_img, crowd, b_rows,
           anns: _Annotations) -> RecordTable:
    n = len(kept)
    nb = np.bincount(new_pos[box_img], minlength=n) if len(box_img) else np.zeros(n, np.int64)
    nc = np.bincount(new_pos[crowd_img], minlength=n) if len(crowd_img) else np.zeros(n, np.int64)
    # polygons of the kept boxes, finite ones only (as records._coco_segment); coords stay where they are
    polys = np.frombuffer(anns.polys, np.int64)
    poly_len = np.frombuffer(anns.poly_len, np.int64)
    coords = np.frombuffer(anns.coords, np.float32) if len(anns.coords) else np.zeros(0, np.float32)
    coord_off = _offsets(poly_len)
    poly_idx = _ranges(_offsets(polys)[b_rows], polys[b_rows])  # of each kept box, in box order
    owner = np.repeat(np.arange(len(b_rows)), polys[b_rows])
    if len(coords):
        finite = np.logical_and.reduceat(np.isfinite(coords), coord_off[:-1])
        good = finite[poly_idx]
        poly_idx, owner = poly_idx[good], owner[good]
    per_box = np.bincount(owner, minlength=len(b_rows)) if len(owner) else np.zeros(len(b_rows), np.int64)
    kinds = np.frombuffer(bytes(anns.seg_kind), np.uint8)[b_rows].astype(np.int8) if len(b_rows) else np.zeros(0, np.int8)
    kinds[(kinds == 1) & (per_box == 0)] = 0
    rle = {b: anns.rle[int(r)] for b, r in enumerate(b_rows.tolist()) if kinds[b] == 2}
    im = [images[k] for k in kept.tolist()]
    cols = dict(
        paths=np.array([str(paths[k]) for k in kept.tolist()], dtype=str) if n else np.zeros(0, "U1"),
        names=np.array([Path(str(x.get("file_name", ""))).as_posix() for x in im], dtype=str) if n else np.zeros(0, "U1"),
        image_ids=np.array([int(x["id"]) for x in im], np.int64),
        heights=heights[kept].astype(np.int32), widths=widths[kept].astype(np.int32),
        flags=np.where(exif[kept], 1, 0).astype(np.uint8),
        box_off=_offsets(nb), boxes=boxes.astype(np.float32).reshape(-1, 4), classes=classes.astype(np.int64),
        crowd_off=_offsets(nc), crowd=crowd.astype(np.float32).reshape(-1, 4),
        crowd_classes=np.full(len(crowd), -1, np.int64),
        seg_kind=kinds, poly_off=_offsets(per_box), poly_idx=poly_idx, coord_off=coord_off, coords=coords)
    return RecordTable(cols, rle)
