"""Overlapping tiles over an image: the one grid used by sliced inference (predict/slicing.py) and by
sliced training data (data/tiling.py), so that a model trained on tiles sees the tiles it is run on."""
from __future__ import annotations

import numpy as np

__all__ = ["tile_grid"]


def _starts(n: int, size: int, step: int) -> list[int]:
    """Tile starts along one axis: every ``step`` px, the last one moved back to end at the border."""
    if n <= size:
        return [0]
    starts = list(range(0, n - size + 1, step))
    if starts[-1] + size < n:
        starts.append(n - size)
    return starts


def tile_grid(h: int, w: int, size: int, overlap: float) -> np.ndarray:
    """int64 [T, 4] tiles (x0, y0, x1, y1) covering an h x w image, row by row; ``overlap`` is the share of
    a tile its neighbour also covers (the last tile of a row or column is moved back to end at the border,
    so it may overlap more); an image no larger than ``size`` is one tile."""
    step = max(1, int(round(size * (1 - overlap))))
    ys, xs = _starts(h, size, step), _starts(w, size, step)
    return np.array([(x, y, min(x + size, w), min(y + size, h)) for y in ys for x in xs], np.int64).reshape(-1, 4)
