"""Sliced inference for small objects in large images (as SAHI: Akyon et al., ICIP 2022).

The image is cut into overlapping ``size`` x ``size`` tiles; the tiles go through the same :class:`Predictor`
(letterbox, forward, decode, NMS) in batches, optionally with the whole image as well; each tile's boxes are
shifted back into the image and everything is merged with the predictor's own NMS method and thresholds.

Boxes cut by a tile border: a tile's box that touches one of its edges *inside* the image is dropped,
because the overlapping neighbour tile sees that object whole when the object is smaller than the overlap
(``overlap * size`` pixels); objects larger than that are cut in every tile and come from the full-image
pass (``full=True``, the default). So where no object crosses a tile border the tiles' detections are
exactly the detections of each tile, and nothing is counted twice beyond what NMS merges.

    tiles = tile_grid(h, w, size=640, overlap=0.2)        # int [T, 4] x0, y0, x1, y1
    dets = predict_sliced(predictor, image, SliceOptions(640, 0.2))   # Tensor[K, 7] in image pixels
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..ops.nms import get_nms, resolve_nms
from ..ops.tiles import tile_grid

__all__ = ["SliceOptions", "merge", "predict_sliced", "tile_grid"]

EDGE = 2.0  # px: a box within this of an inner tile edge counts as cut by it


@dataclass
class SliceOptions:
    size: int = 640  # tile side in pixels (tiles at the image border may be smaller when the image is)
    overlap: float = 0.2  # share of a tile shared with its neighbour, on each axis
    full: bool = True  # also run the whole image (large objects, cut in every tile)
    batch: int = 8  # tiles per forward
    img: int | None = None  # network input size of a tile (None: the tile size rounded up to the stride)

    def __post_init__(self):
        if int(self.size) < 32:
            raise ValueError(f"--slice {self.size}: tiles must be at least 32 px")
        if not 0 <= float(self.overlap) < 1:
            raise ValueError(f"--slice-overlap {self.overlap}: must be in [0, 1)")


def _uncut(d: torch.Tensor, tile, h: int, w: int) -> torch.Tensor:
    """Rows of ``d`` (tile pixels) that touch none of the tile's edges lying inside the image."""
    x0, y0, x1, y1 = (int(v) for v in tile)
    keep = torch.ones(len(d), dtype=torch.bool)
    if x0 > 0:
        keep &= d[:, 0] > EDGE
    if y0 > 0:
        keep &= d[:, 1] > EDGE
    if x1 < w:
        keep &= d[:, 2] < (x1 - x0) - EDGE
    if y1 < h:
        keep &= d[:, 3] < (y1 - y0) - EDGE
    return d[keep]


def _run(predictor, images: list[np.ndarray], img: int) -> list[torch.Tensor]:
    """Detections of each image (its own pixels) with the predictor at input size ``img``."""
    saved = predictor.img
    predictor.img = img
    try:
        x, metas = predictor.preprocess(images)
        return predictor.to_original(predictor.postprocess(predictor.forward(x)), metas)
    finally:
        predictor.img = saved


def predict_sliced(predictor, image: np.ndarray, opt: SliceOptions) -> torch.Tensor:
    """One BGR image -> Tensor[K, 7] (x1, y1, x2, y2, score, class, density) in image pixels, best first."""
    h, w = image.shape[:2]
    tiles = tile_grid(h, w, int(opt.size), float(opt.overlap))
    stride = int(predictor.stride)
    tile_img = (int(opt.img or opt.size) + stride - 1) // stride * stride  # a multiple of the stride
    parts = []
    for k in range(0, len(tiles), max(1, int(opt.batch))):
        chunk = tiles[k:k + int(opt.batch)]
        crops = [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in chunk]
        for t, d in zip(chunk, _run(predictor, crops, tile_img)):
            d = _uncut(d, t, h, w) if len(tiles) > 1 else d
            d[:, [0, 2]] += float(t[0])
            d[:, [1, 3]] += float(t[1])
            parts.append(d)
    if opt.full and len(tiles) > 1:
        parts += _run(predictor, [image], predictor.img)
    return merge(torch.cat(parts) if parts else torch.zeros(0, 7), predictor.options)


def merge(d: torch.Tensor, o) -> torch.Tensor:
    """Detections from several passes (Tensor[K, 7]) merged by the predictor's NMS method and thresholds
    (class-aware unless ``agnostic``), best first, at most ``max_det``."""
    if len(d) == 0:
        return d
    fn = get_nms(resolve_nms(o.nms))
    idxs = torch.zeros(len(d), dtype=torch.int64) if o.agnostic else d[:, 5].long()
    keep, scores = fn(d[:, :4].contiguous(), d[:, 4].contiguous(), idxs, d[:, 6].contiguous(), float(o.iou_thres),
                      float(o.conf_thres), max_det=int(o.max_det))
    out = d[keep].clone()
    if scores is not None:
        out[:, 4] = scores.to(out.dtype)
    out = out[torch.argsort(out[:, 4], descending=True, stable=True)]
    return out[: int(o.max_det)]
