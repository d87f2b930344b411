"""A split's image records held in a few flat numpy arrays instead of one Python object per image and box.

At COCO's size (118 k images, 860 k boxes, tens of millions of polygon coordinates) a list of
:class:`~detector.data.records.ImageRecord` with a Python list per polygon costs gigabytes, and every
DataLoader worker that touches those objects (reference counts, the cyclic GC) copies their pages: the
index grows in each worker. :class:`RecordTable` keeps the same content in ~20 arrays (paths as one
fixed-width string array, boxes / classes / crowd regions / polygon coordinates concatenated with offset
arrays) and builds an :class:`ImageRecord` on demand, whose arrays are read-only views into the table.

It is a ``Sequence[ImageRecord]``: ``len``, ``table[i]``, iteration, and ``table.take(indices)`` (a reordered
or filtered table) are all the data layer needs. It saves to and loads from an ``.npz`` without pickle
(``allow_pickle=False``): the labels cache (``cache.py``).
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from .records import ImageRecord

_INT = np.int64


def _offsets(counts) -> np.ndarray:
    out = np.zeros(len(counts) + 1, _INT)
    np.cumsum(counts, out=out[1:])
    return out


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class RecordTable(Sequence):
    """Columns (N images, B boxes, C crowd regions, P polygons, K coordinates):

    - per image: ``paths`` [N] str, ``names`` [N] str ('' = none), ``image_ids`` [N] int64, ``heights`` /
      ``widths`` [N] int32 (0 = unknown until read), ``flags`` [N] uint8 (bit 0 apply_exif, 1 normalized,
      2 stem_ids, 3 crowd classes known);
    - ``box_off`` [N+1] into ``boxes`` [B, 4] float32 xyxy and ``classes`` [B] int64;
    - ``crowd_off`` [N+1] into ``crowd`` [C, 4] float32 and ``crowd_classes`` [C] int64;
    - segments: ``seg_kind`` [B] int8 (0 none, 1 polygons, 2 RLE), ``poly_off`` [B+1] into ``poly_idx``
      (the polygons of each box), ``coord_off`` [P+1] into ``coords`` [K] float32 (polygon p's flat x, y
      list is ``coords[coord_off[p]:coord_off[p + 1]]``; polygons need not be stored in box order, so the
      COCO indexing keeps them in file order without a copy); RLE masks (rare) in ``rle`` {box index: dict}.
    """

    COLUMNS = ("paths", "names", "image_ids", "heights", "widths", "flags", "box_off", "boxes", "classes",
               "crowd_off", "crowd", "crowd_classes", "seg_kind", "poly_off", "poly_idx", "coord_off", "coords")

    def __init__(self, cols: dict[str, np.ndarray], rle: dict[int, dict] | None = None,
                 order: np.ndarray | None = None):
        for k in self.COLUMNS:
            setattr(self, k, cols[k])
        self.rle = rle or {}
        self.order = order  # None: rows in storage order; else the storage row of each position

    # ------------------------------------------------------------------ Sequence
    def __len__(self) -> int:
        return len(self.paths) if self.order is None else len(self.order)

    def row(self, i: int) -> int:
        """Storage row of position ``i``."""
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"record {i} out of range ({len(self)} records)")
        return int(i if self.order is None else self.order[i])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        r = self.row(int(i))
        b0, b1 = int(self.box_off[r]), int(self.box_off[r + 1])
        c0, c1 = int(self.crowd_off[r]), int(self.crowd_off[r + 1])
        f = int(self.flags[r])
        return ImageRecord(str(self.paths[r]), int(self.image_ids[r]), int(self.heights[r]) or None,
                           int(self.widths[r]) or None, _ro(self.boxes[b0:b1]), _ro(self.classes[b0:b1]),
                           _ro(self.crowd[c0:c1]), apply_exif=bool(f & 1), normalized=bool(f & 2),
                           crowd_classes=_ro(self.crowd_classes[c0:c1]) if f & 8 else None, stem_ids=bool(f & 4),
                           name=str(self.names[r]) or None, segments=self._segments(b0, b1))

    def _segments(self, b0: int, b1: int) -> list | None:
        kinds = self.seg_kind[b0:b1]
        if not kinds.any():
            return None
        out = []
        for b, k in zip(range(b0, b1), kinds):
            if k == 1:
                p0, p1 = int(self.poly_off[b]), int(self.poly_off[b + 1])
                out.append([_ro(self.coords[self.coord_off[p]:self.coord_off[p + 1]]) for p in self.poly_idx[p0:p1]])
            else:
                out.append(self.rle.get(b) if k == 2 else None)
        return out

    def take(self, positions) -> "RecordTable":
        """The records at ``positions`` (reordered / filtered), sharing this table's arrays."""
        pos = np.asarray(positions, _INT).reshape(-1)
        order = pos if self.order is None else self.order[pos]
        return RecordTable({k: getattr(self, k) for k in self.COLUMNS}, self.rle, order)

    # ------------------------------------------------------------------ vectorized views
    def _rows(self) -> np.ndarray:
        return np.arange(len(self.paths)) if self.order is None else self.order

    def hw(self) -> tuple[np.ndarray, np.ndarray]:
        """Heights and widths [len] int (0 = unknown)."""
        r = self._rows()
        return self.heights[r], self.widths[r]

    def box_counts(self) -> np.ndarray:
        r = self._rows()
        return self.box_off[r + 1] - self.box_off[r]

    def crowd_counts(self) -> np.ndarray:
        r = self._rows()
        return self.crowd_off[r + 1] - self.crowd_off[r]

    def donors(self) -> np.ndarray:
        """[M, 2] (position, box index within its record) of every box with an instance mask."""
        r = self._rows()
        starts, counts = self.box_off[r], self.box_off[r + 1] - self.box_off[r]
        pos = np.repeat(np.arange(len(r)), counts)
        within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        boxes = starts[pos] + within
        keep = self.seg_kind[boxes] != 0
        return np.stack([pos[keep], within[keep]], 1).astype(_INT)

    # ------------------------------------------------------------------ building and saving
    @classmethod
    def from_records(cls, records: list[ImageRecord]) -> "RecordTable":
        nb = [len(r.boxes) for r in records]
        nc = [len(r.crowd) for r in records]
        seg_kind, poly_len, coords, rle, polys_per_box = [], [], [], {}, []
        for r in records:
            for k in range(len(r.boxes)):
                sg = r.segments[k] if r.segments is not None and k < len(r.segments) else None
                if isinstance(sg, dict):
                    rle[len(seg_kind)] = sg
                    seg_kind.append(2)
                    polys_per_box.append(0)
                elif sg:
                    seg_kind.append(1)
                    polys_per_box.append(len(sg))
                    for p in sg:
                        a = np.asarray(p, np.float32).reshape(-1)
                        poly_len.append(len(a))
                        coords.append(a)
                else:
                    seg_kind.append(0)
                    polys_per_box.append(0)
        flags = [(1 if r.apply_exif else 0) | (2 if r.normalized else 0) | (4 if r.stem_ids else 0)
                 | (8 if r.crowd_classes is not None else 0) for r in records]
        cc = [np.asarray(r.crowd_classes, _INT) if r.crowd_classes is not None else np.full(len(r.crowd), -1, _INT)
              for r in records]
        cols = dict(
            paths=np.array([r.path for r in records], dtype=str) if records else np.zeros(0, "U1"),
            names=np.array([r.name or "" for r in records], dtype=str) if records else np.zeros(0, "U1"),
            image_ids=np.array([r.image_id for r in records], _INT),
            heights=np.array([r.height or 0 for r in records], np.int32),
            widths=np.array([r.width or 0 for r in records], np.int32),
            flags=np.array(flags, np.uint8),
            box_off=_offsets(nb),
            boxes=np.concatenate([np.asarray(r.boxes, np.float32).reshape(-1, 4) for r in records]) if records
            else np.zeros((0, 4), np.float32),
            classes=np.concatenate([np.asarray(r.classes, _INT).reshape(-1) for r in records]) if records
            else np.zeros(0, _INT),
            crowd_off=_offsets(nc),
            crowd=np.concatenate([np.asarray(r.crowd, np.float32).reshape(-1, 4) for r in records]) if records
            else np.zeros((0, 4), np.float32),
            crowd_classes=np.concatenate(cc) if cc else np.zeros(0, _INT),
            seg_kind=np.array(seg_kind, np.int8),
            poly_off=_offsets(polys_per_box), poly_idx=np.arange(len(poly_len), dtype=_INT),
            coord_off=_offsets(poly_len),
            coords=np.concatenate(coords) if coords else np.zeros(0, np.float32),
        )
        return cls(cols, rle)

    def compacted(self) -> "RecordTable":
        """This table's records in their order, as a table without an ``order`` (for saving)."""
        return self if self.order is None else RecordTable.from_records(list(self))

    def to_arrays(self) -> dict[str, np.ndarray]:
        t = self.compacted()
        out = {k: getattr(t, k) for k in self.COLUMNS}
        out["rle_keys"] = np.array(sorted(t.rle), _INT)
        out["rle_json"] = np.array([json.dumps(t.rle[k]) for k in sorted(t.rle)], dtype=str)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "RecordTable":
        missing = [k for k in cls.COLUMNS + ("rle_keys", "rle_json") if k not in arrays]
        if missing:
            raise ValueError(f"missing columns {missing}")
        rle = {int(k): json.loads(str(v)) for k, v in zip(arrays["rle_keys"], arrays["rle_json"])}
        return cls({k: np.asarray(arrays[k]) for k in cls.COLUMNS}, rle)

    def nbytes(self) -> int:
        return sum(getattr(self, k).nbytes for k in self.COLUMNS)
