"""Sliced training data (as SAHI's ``slice_coco``): a dataset's images cut into the overlapping tiles that
sliced inference runs on (:func:`detector.ops.tiles.tile_grid`, the same grid), written as a YOLO-txt
dataset with a data YAML, so that a model is trained on objects at the scale it will see them.

Each tile keeps the boxes whose part inside it is at least ``min_visible`` of the whole box (clipped to the
tile); smaller fragments are left unlabelled and counted (``cut``), as SAHI's ``min_area_ratio``. Tiles with
no box are kept with probability ``keep_empty`` (deterministic from ``seed``) and counted. ``full=True``
also writes each whole image with its labels (SAHI's "full image + slices" training). Splits that are not
sliced (``--splits train``: the val split) are referred to in place in the written YAML, so training on the
tiles still validates on the whole images (with ``val.py --slice``, the way the model is used).

    stats = slice_split(index, out, "train", size=640, overlap=0.2)
    write_data_yaml(cfg, out, sliced={"train": stats}, names=index.names)
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from ..ops.tiles import tile_grid
from ..utils.io import write_text
from .image_io import ImageReadError, read_image
from .records import record_name
from .types import DataConfig, SplitIndex

__all__ = ["slice_split", "tile_boxes", "write_data_yaml"]


def _clip(boxes: np.ndarray, tile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes [N, 4] xyxy clipped to ``tile`` (image px), their area inside it [N] and their own area [N]."""
    x0, y0, x1, y1 = (float(v) for v in tile)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    c = np.stack([b[:, 0].clip(x0, x1), b[:, 1].clip(y0, y1), b[:, 2].clip(x0, x1), b[:, 3].clip(y0, y1)], 1)
    inter = (c[:, 2] - c[:, 0]).clip(0) * (c[:, 3] - c[:, 1]).clip(0)
    return c, inter, (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)


def tile_boxes(boxes: np.ndarray, tile, min_visible: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes float [N, 4] xyxy (image px) -> (the kept boxes clipped to ``tile``, in tile px [K, 4]; the kept
    rows' indices [K]): rows overlapping the tile by at least ``min_visible`` of their own area."""
    c, inter, area = _clip(boxes, tile)
    keep = np.flatnonzero((inter > 0) & (inter >= min_visible * np.maximum(area, 1e-9)))
    x0, y0 = float(tile[0]), float(tile[1])
    return c[keep] - [x0, y0, x0, y0], keep


def _yolo_lines(boxes: np.ndarray, classes: np.ndarray, w: int, h: int) -> str:
    """YOLO txt rows ``class cx cy w h`` (normalised) for boxes [K, 4] xyxy in an image of w x h px."""
    rows = []
    for (a, b, c, d), k in zip(boxes, classes):
        rows.append(f"{int(k)} {(a + c) / 2 / w:.6f} {(b + d) / 2 / h:.6f} {(c - a) / w:.6f} {(d - b) / h:.6f}")
    return "\n".join(rows) + ("\n" if rows else "")


def slice_split(index: SplitIndex, out: str | Path, split: str, size: int = 640, overlap: float = 0.2,
                min_visible: float = 0.1, keep_empty: float = 1.0, full: bool = False, seed: int = 0,
                progress: bool = True) -> dict:
    """Write the tiles of every image of ``index`` to ``out/images/<split>/`` with YOLO labels in
    ``out/labels/<split>/``. Returns counts: images, tiles, empty tiles kept / left out, boxes written, boxes
    cut below ``min_visible``, crowd (ignore) regions not carried over, unreadable images (listed)."""
    if int(size) < 32:
        raise ValueError(f"tile size {size}: must be at least 32 px")
    if not 0 <= float(overlap) < 1:
        raise ValueError(f"overlap {overlap}: must be in [0, 1)")
    if not 0 < float(min_visible) <= 1:
        raise ValueError(f"min_visible {min_visible}: must be in (0, 1]")
    if not 0 <= float(keep_empty) <= 1:
        raise ValueError(f"keep_empty {keep_empty}: must be in [0, 1]")
    out = Path(out)
    img_dir, lbl_dir = out / "images" / split, out / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    st = {"images": 0, "tiles": 0, "full_images": 0, "empty_kept": 0, "empty_left_out": 0, "boxes": 0,
          "cut": 0, "ignore_regions_dropped": 0, "unreadable": []}
    records = index.records
    if progress:
        from tqdm import tqdm
        records = tqdm(records, desc=f"slice {split}", leave=False)
    for r in records:
        try:
            im = read_image(r.path, apply_exif=r.apply_exif)
        except ImageReadError as e:
            st["unreadable"].append(str(e))
            continue
        h, w = im.shape[:2]
        boxes = np.asarray(r.boxes, np.float64).reshape(-1, 4) * ([w, h, w, h] if r.normalized else 1.0)
        classes = np.asarray(r.classes, np.int64).reshape(-1)
        st["ignore_regions_dropped"] += int(len(np.asarray(r.crowd).reshape(-1, 4)))
        stem = Path(record_name(r)).with_suffix("").as_posix().replace("/", "__")
        ext = ".png" if Path(r.path).suffix.lower() == ".png" else ".jpg"  # lossless sources stay lossless
        st["images"] += 1
        tiles = tile_grid(h, w, int(size), float(overlap))
        for t in tiles:
            tb, keep = tile_boxes(boxes, t, float(min_visible))
            st["cut"] += int((_clip(boxes, t)[1] > 0).sum()) - len(keep)  # touching the tile but under min_visible
            if not len(keep):
                if rng.random() >= keep_empty:
                    st["empty_left_out"] += 1
                    continue
                st["empty_kept"] += 1
            x0, y0, x1, y1 = (int(v) for v in t)
            name = f"{stem}_{x0}_{y0}"
            _write(img_dir / f"{name}{ext}", im[y0:y1, x0:x1])
            (lbl_dir / f"{name}.txt").write_text(_yolo_lines(tb, classes[keep], x1 - x0, y1 - y0))
            st["tiles"] += 1
            st["boxes"] += int(len(keep))
        if full and len(tiles) > 1:
            _write(img_dir / f"{stem}_full{ext}", im)
            (lbl_dir / f"{stem}_full.txt").write_text(_yolo_lines(boxes, classes, w, h))
            st["full_images"] += 1
            st["boxes"] += int(len(boxes))
    return st


def _write(path: Path, im: np.ndarray) -> None:
    ok, buf = cv2.imencode(path.suffix, im, [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else [])
    if not ok:
        raise OSError(f"{path}: could not encode the tile")
    buf.tofile(str(path))


def write_data_yaml(cfg: DataConfig, out: str | Path, sliced: dict, names: list[str], note: str = "") -> Path:
    """``out/data.yaml``: the sliced splits as YOLO folders under ``out``, the others pointing at the
    source's own files (absolute paths, same format), names from the sliced index."""
    out = Path(out).resolve()
    d: dict = {"path": str(out)}
    for split, spec in cfg.splits.items():
        if split in sliced:
            d[split] = f"images/{split}"
        elif spec.kind == "yolo":
            imgs = spec.images
            d[split] = [str(Path(p).resolve()) for p in imgs] if isinstance(imgs, list) else str(Path(imgs).resolve())
        elif spec.kind == "coco":
            d[split] = {"images": str(Path(spec.images).resolve()), "annotations": str(Path(spec.annotations).resolve())}
        # other formats (VOC) are not referred to: slice them too, or add the split by hand
    d["names"] = {i: n for i, n in enumerate(names)}
    p = out / "data.yaml"
    head = f"# sliced from {cfg.source}{': ' + note if note else ''}\n"
    write_text(p, head + yaml.safe_dump(d, sort_keys=False))
    return p
