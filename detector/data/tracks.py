"""A multi-object tracking task with ground truth, built from real COCO people (their instance masks) walking
over real person-free COCO backgrounds, in MOTChallenge's layout (``tools/make_tracks.py``).

Each sequence: a background crop, people who walk at roughly constant velocity (a small random walk on it)
across the frame, entering and leaving at the borders, crossing each other in both directions; depth order
by where their feet are (lower in the frame = nearer = larger and in front), so people pass behind each
other and reappear. Ground truth per frame and person: the person's whole (amodal) box clipped to the frame,
its visible share, and its class: 1 (pedestrian), or 8 (MOTChallenge's "distractor") while less than
``min_visible`` of it shows — TrackEval then counts neither a miss nor, for a box on it, a false positive:
an ignore region that moves with the person. Deterministic from the seed.

Layout (what TrackEval's MotChallenge2DBox reads with ``SKIP_SPLIT_FOL``)::

    <out>/<seq>/img1/000001.jpg ...
    <out>/<seq>/gt/gt.txt          frame,id,x,y,w,h,consider(1),class(1 pedestrian, 8 hidden),visibility
    <out>/<seq>/seqinfo.ini        name, frameRate, seqLength, imWidth, imHeight
    <out>/seqmap.txt, <out>/stats.json (written last: the build finished)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..utils.io import write_text
from .crowds import Cutout, _background, load_backgrounds, load_cutouts
from .image_io import read_image

DEFAULTS = dict(seed=0, sequences=2, frames=150, width=640, height=360, people=[10, 30], fps=25, min_visible=0.25)
SOURCE = ("coco128/images/train2017", "coco128/annotations/instances_train2017.json")


@dataclass
class Walker:
    cutout: Cutout
    flip: bool
    x: float  # centre x, px
    foot: float  # y of the feet, px (depth: larger = nearer)
    vx: float
    vy: float
    scale: float  # height per px of foot y (perspective)


def _spawn(rng: np.random.Generator, cutouts: list[Cutout], W: int, H: int, inside: bool) -> Walker:
    """A person entering at the left or right border (or anywhere, for the first frame) with a walking velocity
    that grows with nearness."""
    c = cutouts[int(rng.integers(len(cutouts)))]
    foot = float(rng.uniform(0.55 * H, 1.08 * H))
    scale = float(rng.uniform(0.45, 0.6))
    h = foot * scale
    w = h * c.img.shape[1] / c.img.shape[0]
    right = rng.random() < 0.5
    x = float(rng.uniform(0, W)) if inside else (W + w / 2 if right else -w / 2)
    speed = float(rng.uniform(1.0, 3.0)) * (0.4 + foot / H)
    return Walker(c, bool(rng.random() < 0.5), x, foot, -speed if right else speed, float(rng.normal(0, 0.15)), scale)


def _box(wk: Walker) -> tuple[float, float, float, float]:
    h = wk.foot * wk.scale
    w = h * wk.cutout.img.shape[1] / wk.cutout.img.shape[0]
    return wk.x - w / 2, wk.foot - h, wk.x + w / 2, wk.foot


def _render(canvas: np.ndarray, walkers: dict[int, Walker], min_visible: float) -> tuple[np.ndarray, list]:
    """The frame and its ground-truth rows (id, clipped xyxy, visible share), back to front by foot y."""
    H, W = canvas.shape[:2]
    out = canvas.copy()
    front = np.full((H, W), -1, np.int32)
    masks = {}
    for i, wk in sorted(walkers.items(), key=lambda kv: kv[1].foot):
        x1, y1, x2, y2 = _box(wk)
        pw, ph = max(1, round(x2 - x1)), max(1, round(y2 - y1))
        im = cv2.resize(wk.cutout.img, (pw, ph), interpolation=cv2.INTER_LINEAR)
        mk = cv2.resize(wk.cutout.mask, (pw, ph), interpolation=cv2.INTER_NEAREST)
        if wk.flip:
            im, mk = im[:, ::-1], mk[:, ::-1]
        px, py = int(round(x1)), int(round(y1))
        sx, sy = max(0, -px), max(0, -py)  # the part inside the frame
        ex, ey = min(pw, W - px), min(ph, H - py)
        if ex <= sx or ey <= sy:
            continue
        im, mk = im[sy:ey, sx:ex], mk[sy:ey, sx:ex]
        alpha = cv2.GaussianBlur(mk.astype(np.float32), (3, 3), 0)[:, :, None]
        roi = out[py + sy:py + ey, px + sx:px + ex].astype(np.float32)
        out[py + sy:py + ey, px + sx:px + ex] = (alpha * im + (1 - alpha) * roi).astype(np.uint8)
        region = front[py + sy:py + ey, px + sx:px + ex]
        region[mk > 0] = i
        masks[i] = (int(mk.sum()), (max(x1, 0.0), max(y1, 0.0), min(x2, float(W)), min(y2, float(H))))
    rows = []
    for i, (area, box) in sorted(masks.items()):
        vis = float((front == i).sum()) / max(area, 1)
        if area >= 20:
            rows.append((i, box, vis))
    return out, rows


def build_sequence(out_dir: Path, name: str, rng: np.random.Generator, bg: np.ndarray, cutouts: list[Cutout],
                   frames: int, width: int, height: int, people: tuple[int, int], fps: int, min_visible: float) -> dict:
    """One sequence in MOTChallenge's layout; returns its statistics."""
    canvas = cv2.resize(_background(rng, bg, max(width, height)), (width, height), interpolation=cv2.INTER_AREA)
    target = int(rng.integers(people[0], people[1] + 1))
    walkers: dict[int, Walker] = {k + 1: _spawn(rng, cutouts, width, height, True) for k in range(target)}
    next_id = target + 1
    seq = out_dir / name
    (seq / "img1").mkdir(parents=True, exist_ok=True)
    gt, per_frame, ids_seen = [], [], set()
    for f in range(1, frames + 1):
        img, rows = _render(canvas, walkers, min_visible)
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        for i, (x1, y1, x2, y2), vis in rows:
            cls = 1 if vis >= min_visible else 8  # pedestrian, or (mostly hidden) MOTChallenge's distractor class
            gt.append(f"{f},{i},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,{cls},{vis:.3f}")
            ids_seen.add(i)
        per_frame.append(sum(v >= min_visible for _, _, v in rows))
        for i, wk in list(walkers.items()):  # walk on: velocity with a small random walk, gone past the border
            wk.vx += float(rng.normal(0, 0.05))
            wk.vy = float(np.clip(wk.vy + rng.normal(0, 0.03), -0.6, 0.6))
            wk.x += wk.vx
            wk.foot = float(np.clip(wk.foot + wk.vy, 0.5 * height, 1.1 * height))
            x1, _, x2, _ = _box(wk)
            if x2 < -2 or x1 > width + 2:
                del walkers[i]
        while len(walkers) < target and rng.random() < 0.5:
            walkers[next_id] = _spawn(rng, cutouts, width, height, False)
            next_id += 1
    write_text(seq / "gt" / "gt.txt", "\n".join(gt) + "\n")
    write_text(seq / "seqinfo.ini", f"[Sequence]\nname={name}\nimDir=img1\nframeRate={fps}\nseqLength={frames}\n"
                                    f"imWidth={width}\nimHeight={height}\nimExt=.jpg\n")
    return {"frames": frames, "identities": len(ids_seen), "people_per_frame": [int(min(per_frame)), int(max(per_frame))],
            "people_per_frame_mean": round(float(np.mean(per_frame)), 1)}


def build(out: str | Path, source_root: str | Path, seed: int = 0, sequences: int = 2, frames: int = 150,
          width: int = 640, height: int = 360, people=(10, 30), fps: int = 25, min_visible: float = 0.25,
          source: tuple[str, str] = SOURCE) -> dict:
    """The whole task (see the module doc) under ``out``; people and backgrounds from ``source`` (relative to
    ``source_root``: coco128 by default, the people the crowd task validates on)."""
    out, root = Path(out), Path(source_root)
    images, ann = root / source[0], root / source[1]
    if not ann.is_file():
        raise ValueError(f"{ann}: missing (the tracking task is built from COCO people; --source is the folder "
                         "holding coco128/)")
    cutouts = load_cutouts(images, ann)
    bgs = load_backgrounds(images, ann)
    if not cutouts or not bgs:
        raise ValueError(f"{ann}: needs person instances with polygons ({len(cutouts)}) and person-free images "
                         f"({len(bgs)})")
    rng = np.random.default_rng(seed)
    stats = {"options": dict(seed=seed, sequences=sequences, frames=frames, width=width, height=height,
                             people=list(people), fps=fps, min_visible=min_visible, source=list(source))}
    names = [f"PEOPLE-{k + 1:02d}" for k in range(sequences)]
    for name in names:
        bg_path, _ = bgs[int(rng.integers(len(bgs)))]
        stats[name] = build_sequence(out, name, rng, read_image(bg_path), cutouts, frames, width, height,
                                     tuple(people), fps, min_visible)
        stats[name]["background"] = bg_path.name
    write_text(out / "seqmap.txt", "name\n" + "\n".join(names) + "\n")
    write_text(out / "stats.json", json.dumps(stats, indent=1))
    return stats
