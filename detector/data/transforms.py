"""Geometric and photometric augmentations on numpy images (HxWx3 uint8 BGR) and xyxy pixel boxes.

Degenerate-box rule (``box_candidates``), applied after a geometric transform and clipping to
the output image: a box is dropped only if its clipped width or height is below 2 px, its
aspect ratio exceeds 20, or less than 10 % of its transformed area is left inside the image.
Every other box is kept, clipped to the image.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

MIN_SIZE, MAX_ASPECT, MIN_VISIBLE = 2.0, 20.0, 0.10


def letterbox(img: np.ndarray, new_shape: tuple[int, int], color: int = 114, scaleup: bool = True
              ) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Resize keeping aspect ratio and pad (centred) to ``new_shape`` (h, w).

    Returns (image, (ratio_x, ratio_y), (pad_left, pad_top)): a point maps as
    x' = x * ratio_x + pad_left, y' = y * ratio_y + pad_top. The two ratios are the real ones
    after rounding the resized size to whole pixels (they differ by < 1 px over the image).
    """
    h0, w0 = img.shape[:2]
    r = min(new_shape[0] / h0, new_shape[1] / w0)
    if not scaleup:
        r = min(r, 1.0)
    w1, h1 = int(round(w0 * r)), int(round(h0 * r))
    if (w1, h1) != (w0, h0):
        img = cv2.resize(img, (w1, h1), interpolation=cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA)
    rx, ry = w1 / w0, h1 / h0
    dw, dh = (new_shape[1] - w1) / 2, (new_shape[0] - h1) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color,) * 3)
    return img, (rx, ry), (float(left), float(top))


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 BGR (OpenCV) -> Tensor[3, H, W] uint8 RGB (the network's channel order)."""
    return torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)))


def normalize_images(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Tensor[B, 3, H, W] uint8 (0..255) -> ``dtype`` in 0..1: what every model input goes through
    (divided in float32, then cast: one rounding for fp16)."""
    x = x.float() / 255.0
    return x if dtype == torch.float32 else x.to(dtype)


def scale_to_original(boxes: torch.Tensor, meta: dict) -> torch.Tensor:
    """Tensor[K, 4] xyxy in network-input pixels -> original-image pixels, clipped to the image.
    ``meta``: ``ratio`` and ``pad`` as :func:`letterbox` returned them, ``orig_shape`` (h, w)."""
    rx, ry = meta["ratio"]
    px, py = meta["pad"]
    out = boxes.clone().float()
    out[:, [0, 2]] = (out[:, [0, 2]] - px) / rx
    out[:, [1, 3]] = (out[:, [1, 3]] - py) / ry
    h, w = meta["orig_shape"]
    out[:, [0, 2]] = out[:, [0, 2]].clamp(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clamp(0, h)
    return out


def box_candidates(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Keep mask for boxes [N, 4] transformed (``before``: unclipped, ``after``: clipped)."""
    w, h = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    area0 = np.maximum((before[:, 2] - before[:, 0]) * (before[:, 3] - before[:, 1]), 1e-9)
    aspect = np.maximum(w / np.maximum(h, 1e-9), h / np.maximum(w, 1e-9))
    return (w >= MIN_SIZE) & (h >= MIN_SIZE) & (aspect <= MAX_ASPECT) & (w * h / area0 >= MIN_VISIBLE)


def transform_boxes(boxes: np.ndarray, M: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply a 2x3 or 3x3 affine matrix to xyxy boxes [N, 4] (enclosing box of the 4 corners),
    clip to (width, height) and return (kept clipped boxes, keep mask)."""
    n = len(boxes)
    if n == 0:
        return boxes.reshape(0, 4), np.zeros(0, bool)
    corners = np.ones((n * 4, 3), np.float32)
    corners[:, :2] = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)
    xy = corners @ M[:2].T
    xy = xy.reshape(n, 8)
    x, y = xy[:, [0, 2, 4, 6]], xy[:, [1, 3, 5, 7]]
    before = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], 1)
    after = before.copy()
    after[:, [0, 2]] = after[:, [0, 2]].clip(0, width)
    after[:, [1, 3]] = after[:, [1, 3]].clip(0, height)
    keep = box_candidates(before, after)
    return after[keep].astype(np.float32), keep


def random_affine(img: np.ndarray, boxes: np.ndarray, classes: np.ndarray, crowd: np.ndarray, rng: np.random.Generator,
                  degrees: float = 0.0, translate: float = 0.1, scale: float = 0.5, shear: float = 0.0,
                  border: tuple[int, int] = (0, 0)):
    """Random rotation/scale/shear/translation. ``border`` (y, x) < 0 crops (used after mosaic).

    Returns (img, boxes, classes, crowd) with boxes clipped and degenerate ones dropped.
    """
    height, width = img.shape[0] + 2 * border[0], img.shape[1] + 2 * border[1]
    C = np.eye(3, dtype=np.float32)
    C[0, 2], C[1, 2] = -img.shape[1] / 2, -img.shape[0] / 2
    R = np.eye(3, dtype=np.float32)
    a = rng.uniform(-degrees, degrees)
    s = rng.uniform(1 - scale, 1 + scale)
    R[:2] = cv2.getRotationMatrix2D(angle=a, center=(0, 0), scale=s)
    S = np.eye(3, dtype=np.float32)
    S[0, 1] = math.tan(math.radians(rng.uniform(-shear, shear)))
    S[1, 0] = math.tan(math.radians(rng.uniform(-shear, shear)))
    T = np.eye(3, dtype=np.float32)
    T[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * width
    T[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * height
    M = T @ S @ R @ C
    if border != (0, 0) or not np.allclose(M, np.eye(3)):
        img = cv2.warpAffine(img, M[:2], dsize=(width, height), borderValue=(114, 114, 114))
    boxes, keep = transform_boxes(boxes, M, width, height)
    crowd, _ = transform_boxes(crowd, M, width, height)
    return img, boxes, classes[keep], crowd


def augment_hsv(img: np.ndarray, rng: np.random.Generator, hgain: float = 0.015, sgain: float = 0.7,
                vgain: float = 0.4) -> np.ndarray:
    """Random hue/saturation/value gains via lookup tables (new image)."""
    if not (hgain or sgain or vgain):
        return img
    r = rng.uniform(-1, 1, 3) * [hgain, sgain, vgain] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
    x = np.arange(0, 256, dtype=r.dtype)
    lut_hue = ((x * r[0]) % 180).astype(np.uint8)
    lut_sat = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def hflip(img: np.ndarray, boxes: np.ndarray, crowd: np.ndarray):
    """Mirror left-right: x -> W - x."""
    w = img.shape[1]
    img = np.ascontiguousarray(img[:, ::-1])
    def f(b):
        b = b.copy()
        b[:, [0, 2]] = w - b[:, [2, 0]]
        return b
    return img, f(boxes), f(crowd)


def mixup(a: tuple, b: tuple, rng: np.random.Generator):
    """Blend two (img, boxes, classes, crowd) samples of the same size (MixUp, Zhang et al. 2018)."""
    r = rng.beta(32.0, 32.0)
    img = (a[0].astype(np.float32) * r + b[0].astype(np.float32) * (1 - r)).astype(np.uint8)
    return img, np.concatenate([a[1], b[1]]), np.concatenate([a[2], b[2]]), np.concatenate([a[3], b[3]])
