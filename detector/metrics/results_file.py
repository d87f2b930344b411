"""Read a COCO results file (``predictions.json``) made by any tool and match it to a dataset split.

Rows are matched to images by ``file_name`` when present, else by ``image_id``: the split's own ids,
or (YOLO txt) the file stem as Ultralytics writes it. Nothing is scored silently wrong:

- a row that is not ``{image_id|file_name, category_id, bbox: 4 finite numbers, score: finite}`` is
  rejected and counted, with the first reasons in the notes;
- ``image_id`` is looked up as the split's results-file id, then as the image's file stem (what
  Ultralytics writes for any dataset: ``int(stem)`` or the stem);
- rows for images that are not in the split are counted and named in the notes (scored without them);
  when no row matches an image the file is refused;
- category ids the split does not have are refused, naming them, the split's ids and the offset that
  would match (the 0- vs 1-based mix-up); ``cat_offset`` applies that offset knowingly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .coco_eval import external_ids


@dataclass
class ResultsFile:
    rows: np.ndarray  # [K, 7]: image_id (the split's), x, y, w, h, score, category_id
    densities: np.ndarray | None = None  # [K] each row's "density" (ours writes it; NaN where absent)
    notes: list[str] = field(default_factory=list)
    rejected: int = 0
    unknown_images: int = 0


def _unique_keys(pairs) -> dict:
    """key -> image id for the keys that name exactly one image (an ambiguous key matches nothing)."""
    count: dict = {}
    for k, _ in pairs:
        count[k] = count.get(k, 0) + 1
    return {k: v for k, v in pairs if count[k] == 1}


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Scores -> their rank among the distinct values, in [0, 1] (same order, same ties)."""
    u, inv = np.unique(scores, return_inverse=True)
    return inv / max(len(u) - 1, 1)


def _id_hint(cats: set, idx, cat_offset: int = 0) -> str:
    """How the file's ids could be meant, only where the mapping names the same classes: an offset on
    contiguous ids (the 0- vs 1-based mix-up), or COCO's 80 class indices on COCO's 91-id categories."""
    known = list(idx.cat_ids)
    if sorted(known) == COCO91_IDS:
        fits = [(name, base) for name, base in CAT_MAPS.items() if all(0 <= c - base < 80 for c in cats)]
        if not fits:
            return ""
        how = " or ".join(f"--cat-map {name} ({'0' if base == 0 else '1'}-based: {base} = the first class)"
                          for name, base in fits)
        return (f"; the split has COCO's 80 categories with ids 1..90 and the file's ids look like class indices: "
                f"pass {how} if that is what the file means (an offset would name other classes)")
    contiguous = sorted(known) == list(range(min(known), min(known) + len(known))) if known else False
    offsets = [d for d in (-1, 1) if contiguous and {c + d for c in cats} <= set(known)]
    return (f"; every id would match with an offset of {offsets[0]:+d} (the 0- vs 1-based mix-up): pass "
            f"--cat-offset {offsets[0] + cat_offset:+d} if that is what the file means") if offsets else ""


def _fmt(ids, n: int = 8) -> str:
    ids = sorted(ids, key=str)
    return ", ".join(map(repr, ids[:n])) + (f", ... ({len(ids)} in all)" if len(ids) > n else "")


def _stem_key(stem: str) -> int | str:
    return int(stem) if stem.isdigit() else stem


_isfinite = math.isfinite


def _row_problem(p) -> str | None:
    """What is wrong with one results row, or None. The first test passes an ordinary row with a few
    type checks (500 k rows for COCO val2017); anything else goes through every rule for its sentence."""
    if type(p) is dict:
        b, s, c = p.get("bbox"), p.get("score"), p.get("category_id")
        if type(b) is list and len(b) == 4 and type(c) is int and type(s) in (float, int) and (
                "image_id" in p or "file_name" in p):
            x, y, w, h = b
            if (type(x) in (float, int) and type(y) in (float, int) and type(w) in (float, int)
                    and type(h) in (float, int) and _isfinite(x) and _isfinite(y) and _isfinite(w) and _isfinite(h)
                    and w >= 0 and h >= 0 and _isfinite(s)):
                return None
    return _row_rules(p)


def _row_rules(p) -> str | None:
    if not isinstance(p, dict):
        return f"not an object: {str(p)[:40]!r}"
    if "image_id" not in p and "file_name" not in p:
        return "no image_id or file_name"
    for k in ("category_id", "bbox", "score"):
        if k not in p:
            return f"missing '{k}'"
    b = p["bbox"]
    if not isinstance(b, list) or len(b) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                         for v in b):
        return f"bbox must be 4 numbers [x, y, w, h], got {str(b)[:60]}"
    if not all(math.isfinite(v) for v in b):
        return f"bbox has NaN/inf {b}"
    if b[2] < 0 or b[3] < 0:
        return f"bbox has a negative width or height {b}"
    s = p["score"]
    if not isinstance(s, (int, float)) or isinstance(s, bool) or not math.isfinite(s):
        return f"score must be a finite number, got {s!r}"
    c = p["category_id"]
    if not isinstance(c, int) or isinstance(c, bool):
        if not (isinstance(c, float) and c.is_integer()):
            return f"category_id must be an integer, got {c!r}"
    return None


COCO91_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32,
              33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
              60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]
"""COCO's category id of each of the 80 detection classes in their usual order (class index -> id)."""
CAT_MAPS = {"coco80": 0, "coco80-1": 1}
"""``--cat-map`` names: the file's ids are indices of the 80 COCO classes, 0-based (``coco80``: 0 = person,
as YOLO class indices) or 1-based (``coco80-1``: 1 = person, as contiguous 1..80 ids)."""


def read_results(path: str | Path, idx, cat_offset: int = 0, cat_map: str | None = None) -> ResultsFile:
    """Parse ``path`` against a :class:`~detector.data.SplitIndex`. Raises ``ValueError`` (naming the file)
    when the file is unusable: unreadable, not a results list, no valid row, no row for any image of the
    split, or category ids the split does not have."""
    path = Path(path)
    preds = _load_results_list(path)
    match = _ImageMatcher(idx)
    out = ResultsFile(np.zeros((0, 7)))
    reasons: dict[str, int] = {}
    unknown: set = set()
    rows, dens = [], []
    for p in preds:
        problem = _row_problem(p)
        if problem:
            out.rejected += 1
            key = problem.split(" [")[0].split(" {")[0] if "NaN" not in problem else "bbox has NaN/inf"
            reasons[key] = reasons.get(key, 0) + 1
            continue
        iid, key = match(p)
        if iid is None:
            unknown.add(key)
            out.unknown_images += 1
            continue
        rows.append([iid, *(float(v) for v in p["bbox"]), float(p["score"]), _category(p, cat_offset, cat_map)])
        dn = p.get("density")
        dens.append(float(dn) if isinstance(dn, (int, float)) and not isinstance(dn, bool) else math.nan)
    _note_rejected_and_unknown(path, out, reasons, unknown, len(preds), bool(rows), match, idx.split)
    arr, dens = _check_categories(path, out, np.array(rows, np.float64).reshape(-1, 7), np.array(dens, np.float64),
                                  idx, cat_offset)
    if cat_offset:
        out.notes.append(f"category ids shifted by {cat_offset:+d} (--cat-offset)")
    if cat_map:
        out.notes.append(f"category ids read as COCO class indices ({cat_map}) and mapped to COCO's ids (--cat-map)")
    out.rows, out.densities = _scores_in_unit_range(arr, out), dens
    return out


def _load_results_list(path: Path) -> list:
    """The file's rows, or a ValueError saying why it is not a COCO results list."""
    from ..utils.safe_load import read_json

    try:
        preds = read_json(path)
    except ValueError as e:
        raise ValueError(f"{path}: cannot read predictions json: {str(e).split(': ', 1)[-1]}") from None
    if isinstance(preds, dict) and "annotations" in preds:
        raise ValueError(f"{path}: this is a COCO annotations file (ground truth), not a results list")
    if not isinstance(preds, list):
        raise ValueError(f"{path}: expected a COCO results list [{{image_id, category_id, bbox, score}}, ...], "
                         f"got a {type(preds).__name__}")
    return preds


class _ImageMatcher:
    """A row -> (the split's image id or None, the key it was looked up by): by ``file_name`` (the relative
    path, else a bare name that only one image has), else by ``image_id`` (the external id, our own id, a
    numeric string, or a file stem as Ultralytics writes on COCO json)."""

    def __init__(self, idx):
        ext = external_ids(idx.records)
        self.by_name = {name: iid for iid, (_, name) in ext.items()}  # relative paths: unique per image
        self.bare = _unique_keys([(Path(r.path).name, r.image_id) for r in idx.records])  # where unambiguous
        self.by_ext = {e: iid for iid, (e, _) in ext.items()}
        self.own_ids = {r.image_id for r in idx.records}
        self.by_stem = _unique_keys([(_stem_key(Path(r.path).stem), r.image_id) for r in idx.records])

    def __call__(self, p: dict):
        fname = p.get("file_name")
        if isinstance(fname, str) and fname:
            iid = self.by_name.get(Path(fname).as_posix())
            return (self.bare.get(Path(fname).name) if iid is None else iid), fname
        key = p["image_id"]
        iid = self.by_ext.get(key)
        if iid is None and isinstance(key, int) and key in self.own_ids:
            iid = key
        if iid is None and isinstance(key, str) and key.isdigit():
            iid = self.by_ext.get(int(key))
        if iid is None and isinstance(key, (str, int)):
            iid = self.by_stem.get(_stem_key(str(key)))
        return iid, key


def _category(p: dict, cat_offset: int, cat_map: str | None) -> int:
    """The row's category id after ``--cat-offset`` / ``--cat-map`` (an unknown mapped index: a value
    below -1e6 that the category check names)."""
    cid = int(p["category_id"]) + cat_offset
    if cat_map is not None:
        k = cid - CAT_MAPS[cat_map]
        cid = COCO91_IDS[k] if 0 <= k < len(COCO91_IDS) else -1_000_000 - cid
    return cid


def _note_rejected_and_unknown(path: Path, out: ResultsFile, reasons: dict, unknown: set, n_rows: int,
                               any_row: bool, match: _ImageMatcher, split: str) -> None:
    """Notes on rejected rows and rows of images not in the split; a ValueError when nothing is left."""
    if out.rejected:
        detail = "; ".join(f"{n} x {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:5])
        out.notes.append(f"{out.rejected} of {n_rows} rows rejected ({detail})")
    if n_rows and not any_row and not unknown:
        raise ValueError(f"{path}: no usable row: {out.notes[0]}")
    if unknown:
        msg = (f"{out.unknown_images} rows name {len(unknown)} image(s) not in the {split} split: {_fmt(unknown)}; "
               f"the split's ids look like {_fmt(list(match.by_ext)[:3], 3)} (file names like "
               f"{_fmt(list(match.by_name)[:2], 2)})")
        if not any_row:
            raise ValueError(f"{path}: no row matches an image of the split: {msg}")
        out.notes.append(msg + "; scored without them")


def _check_categories(path: Path, out: ResultsFile, arr: np.ndarray, dens: np.ndarray, idx,
                      cat_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose category the split has; a ValueError naming the others (and the offset that would fit),
    except for classes a data YAML's ``classes:`` left out, whose rows are dropped with a note."""
    cats = set(int(c) for c in arr[:, 6])
    known = set(idx.cat_ids)
    bad = cats - known
    if bad and getattr(idx, "subset", False):  # the data YAML keeps some classes: rows of the others go
        keep = np.isin(arr[:, 6], sorted(known))
        out.notes.append(f"{int((~keep).sum())} rows of categories {_fmt(bad)} outside the data YAML's 'classes' "
                         "left out")
        return arr[keep], dens[keep]
    if bad:
        raise ValueError(f"{path}: category ids {_fmt(sorted(c if c > -1_000_000 else -1_000_000 - c for c in bad))} "
                         f"are not in the split ({len(known)} categories, ids {_fmt(known)}){_id_hint(cats, idx, cat_offset)}")
    return arr, dens


def _scores_in_unit_range(arr: np.ndarray, out: ResultsFile) -> np.ndarray:
    """Scores outside [0, 1] replaced by their ranks in [0, 1], with a note (mAP uses only their order)."""
    lo, hi = (float(arr[:, 5].min()), float(arr[:, 5].max())) if len(arr) else (0.0, 1.0)
    if lo < 0 or hi > 1:  # the ranking (mAP) is unaffected; P/R/F1 at a confidence would mean nothing
        arr = arr.copy()
        arr[:, 5] = _ranks(arr[:, 5])
        out.notes.append(f"scores lie in [{lo:g}, {hi:g}], not [0, 1]: mAP uses only their order; P/R/F1 are "
                         "computed on the scores' ranks mapped to [0, 1] (a 'conf' of 0.5 is the median score)")
    return arr
