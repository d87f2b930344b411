"""Embedded synthetic dataset: a deterministic, seeded generator writing a COCO-json dataset of
small images with shape classes on textured backgrounds, objects from small to large, and a
crowded portion where same-class objects overlap heavily (pairwise IoU 0.5-0.7) so that greedy
NMS at 0.5 would remove true objects.

Layout written under ``root``::

    images/{train,val}/*.jpg
    annotations/instances_{train,val}.json            all images of the split
    annotations/instances_{train,val}_crowded.json     only the crowded images (for NMS studies)
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

CLASSES = ["circle", "square", "triangle", "star"]


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(40, 220, 3)
    small = rng.normal(0, 28, (max(2, size // 32), max(2, size // 32), 3))
    noise = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 8, (size, size, 3))
    img = np.clip(base + noise + fine, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 7))):  # clutter lines
        p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
        col = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.line(img, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), col, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _polygon(cls: int, box, rng: np.random.Generator) -> np.ndarray | None:
    x1, y1, x2, y2 = box
    cx, w, h = (x1 + x2) / 2, x2 - x1, y2 - y1
    if cls == 1:  # square (axis-aligned rectangle)
        return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
    if cls == 2:  # triangle
        return np.array([[cx, y1], [x2, y2], [x1, y2]])
    if cls == 3:  # 5-point star
        pts = []
        for k in range(10):
            a = -math.pi / 2 + k * math.pi / 5
            r = 1.0 if k % 2 == 0 else 0.45
            pts.append([math.cos(a) * r, math.sin(a) * r])
        pts = np.array(pts)
        pts = (pts - pts.min(0)) / (pts.max(0) - pts.min(0))  # tight to the box
        return np.stack([x1 + pts[:, 0] * w, y1 + pts[:, 1] * h], 1)
    return None  # circle / ellipse


def _draw(img: np.ndarray, cls: int, box, rng: np.random.Generator) -> None:
    fill = tuple(int(c) for c in rng.integers(0, 256, 3))
    edge = tuple(int(c) // 3 for c in fill)
    poly = _polygon(cls, box, rng)
    sh = 4  # sub-pixel precision for drawing
    if poly is None:
        x1, y1, x2, y2 = box
        c = (int(round((x1 + x2) / 2 * 2**sh)), int(round((y1 + y2) / 2 * 2**sh)))
        ax = (int(round((x2 - x1) / 2 * 2**sh)), int(round((y2 - y1) / 2 * 2**sh)))
        cv2.ellipse(img, c, ax, 0, 0, 360, fill, -1, cv2.LINE_AA, sh)
        cv2.ellipse(img, c, ax, 0, 0, 360, edge, 2, cv2.LINE_AA, sh)
    else:
        p = np.round(poly * 2**sh).astype(np.int32)
        cv2.fillPoly(img, [p], fill, cv2.LINE_AA, sh)
        cv2.polylines(img, [p], True, edge, 2, cv2.LINE_AA, sh)


def _random_box(rng: np.random.Generator, size: int, lo: float, hi: float):
    w = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) * size
    h = w * float(rng.uniform(0.7, 1.4))
    h = min(h, size * 0.9)
    x1 = float(rng.uniform(0, size - w))
    y1 = float(rng.uniform(0, size - h))
    return [x1, y1, x1 + w, y1 + h]


def _crowd_cluster(rng: np.random.Generator, size: int, n: int):
    """n same-size-ish boxes, each overlapping an earlier one with IoU in [0.5, 0.7]."""
    boxes = [_random_box(rng, size, 0.15, 0.35)]
    tries = 0
    while len(boxes) < n and tries < 200:
        tries += 1
        ref = boxes[int(rng.integers(len(boxes)))]
        w, h = ref[2] - ref[0], ref[3] - ref[1]
        w2, h2 = w * float(rng.uniform(0.85, 1.15)), h * float(rng.uniform(0.85, 1.15))
        ang = rng.uniform(0, 2 * math.pi)
        d = float(rng.uniform(0.08, 0.3))
        cx, cy = (ref[0] + ref[2]) / 2 + math.cos(ang) * d * w, (ref[1] + ref[3]) / 2 + math.sin(ang) * d * h
        b = [cx - w2 / 2, cy - h2 / 2, cx + w2 / 2, cy + h2 / 2]
        if b[0] < 0 or b[1] < 0 or b[2] > size or b[3] > size:
            continue
        ious = [_iou(b, o) for o in boxes]
        if 0.5 <= max(ious) <= 0.7 and all(v <= 0.75 for v in ious):
            boxes.append(b)
    return boxes


def make_image(rng: np.random.Generator, size: int, crowded: bool):
    img = _background(rng, size)
    objs: list[tuple[int, list[float]]] = []
    if crowded:
        cls = int(rng.integers(len(CLASSES)))
        objs += [(cls, b) for b in _crowd_cluster(rng, size, int(rng.integers(2, 5)))]
    for _ in range(int(rng.integers(1 if not crowded else 0, 5))):
        for _ in range(20):  # isolated objects do not touch anything (no hidden objects)
            b = _random_box(rng, size, 0.06, 0.5)
            if all(_iou(b, o[1]) == 0 for o in objs):
                objs.append((int(rng.integers(len(CLASSES))), b))
                break
    for cls, b in objs:
        _draw(img, cls, b, rng)
    return img, objs


def generate(root: str | Path, seed: int = 0, train: int = 400, val: int = 100, size: int = 256,
             crowded_fraction: float = 0.3) -> Path:
    """Write the dataset under ``root`` (atomically: built in a temp folder, then renamed)."""
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=root.parent))
    try:
        (tmp / "annotations").mkdir()
        cats = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASSES)]
        ann_id = 1
        for split, n, split_seed in (("train", train, seed), ("val", val, seed + 1_000_003)):
            rng = np.random.default_rng(split_seed)
            (tmp / "images" / split).mkdir(parents=True)
            images, anns, crowded_ids = [], [], set()
            for k in range(n):
                crowded = rng.random() < crowded_fraction
                img, objs = make_image(rng, size, crowded)
                name = f"{split}_{k:05d}.jpg"
                cv2.imwrite(str(tmp / "images" / split / name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
                images.append({"id": k + 1, "file_name": name, "width": size, "height": size})
                if crowded:
                    crowded_ids.add(k + 1)
                for cls, b in objs:
                    x1, y1, x2, y2 = (round(v, 2) for v in b)
                    anns.append({"id": ann_id, "image_id": k + 1, "category_id": cls + 1, "iscrowd": 0,
                                 "bbox": [x1, y1, round(x2 - x1, 2), round(y2 - y1, 2)],
                                 "area": round((x2 - x1) * (y2 - y1), 2)})
                    ann_id += 1
            info = {"description": f"detector synthetic shapes, seed {seed}", "version": "1"}
            full = {"info": info, "images": images, "annotations": anns, "categories": cats}
            (tmp / "annotations" / f"instances_{split}.json").write_text(json.dumps(full))
            crowd = {"info": info, "images": [i for i in images if i["id"] in crowded_ids],
                     "annotations": [a for a in anns if a["image_id"] in crowded_ids], "categories": cats}
            (tmp / "annotations" / f"instances_{split}_crowded.json").write_text(json.dumps(crowd))
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def make_video(path: str | Path, seed: int = 0, frames: int = 48, size: tuple[int, int] = (320, 256),
               fps: float = 12.0) -> Path:
    """A short mp4 of shapes drifting over a textured background (for the detect demo)."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = cv2.resize(_background(rng, max(w, h)), (w, h))
    objs = []
    for _ in range(5):
        b = _random_box(rng, min(w, h), 0.12, 0.3)
        objs.append((int(rng.integers(len(CLASSES))), b, rng.uniform(-3, 3, 2), int(rng.integers(1 << 30))))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"{path}: cannot open a video writer (mp4v)")
    for t in range(frames):
        img = bg.copy()
        for cls, b, v, s in objs:
            dx, dy = v * t
            bw, bh = b[2] - b[0], b[3] - b[1]
            x1 = float(np.clip(b[0] + dx, 0, w - bw))
            y1 = float(np.clip(b[1] + dy, 0, h - bh))
            _draw(img, cls, [x1, y1, x1 + bw, y1 + bh], np.random.default_rng(s))
        writer.write(img)
    writer.release()
    return path


def ensure(root: str | Path, **options) -> Path:
    """Generate the dataset at ``root`` unless it is already there (the marker is the val json)."""
    root = Path(root)
    if not (root / "annotations" / "instances_val.json").is_file():
        generate(root, **options)
    return root
