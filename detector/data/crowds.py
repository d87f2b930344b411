"""A crowded-person task built from real COCO person instances pasted, with their masks, on real backgrounds.

Why: COCO itself has almost no crowded person pairs (about 1 % of val2017 person boxes overlap another
person at IoU >= 0.5), so a post-processing for crowds (adaptive NMS) cannot be compared on it. This
builder makes a task anyone can rebuild from the shared COCO subsets, deterministically from a seed:

- **Instances**: non-crowd ``person`` annotations with polygon masks, at least ``min_height`` px tall,
  not cut by their source image's border (so the pasted box is the whole person), and whose mask fills
  at least ``min_fill`` of their box. Each is cut out with its mask (pycocotools rasterises the polygons).
- **Backgrounds**: images of the same source json with no person annotation at all (so that no
  unlabelled person is in the picture); a random crop (60-100 % of each side), a random flip, resized so
  that the long side is ``size``.
- **A scene**: 4-20 people (``people``), a scene scale (person height 22-55 % of the image height) with
  per-person jitter (x0.8-1.25) and random flips. Each person after the first is, with probability
  ``near``, put beside an already placed one at a drawn box IoU of 0.5-0.8 (same height band, the
  horizontal offset solved for the IoU), else somewhere its box overlaps every placed box at IoU < 0.3
  where such a place is found. The paste order (who is in front) is a random permutation.
- **Ground truth**: ``bbox`` is the full (amodal) extent of the pasted person, also where people in front
  hide part of it (CrowdHuman's full-body convention); ``segmentation`` (RLE) and ``area`` are its visible
  pixels, ``visible`` its visible fraction. A person left less than ``min_visible`` visible is taken out of
  the scene before it is drawn (nothing unlabelled stays in the picture).
- **Splits**: ``train`` from one source (by default ``coco_val493``: 493 val2017 images), ``val`` from the
  other (``coco128``: 128 train2017 images): people and backgrounds never cross the splits.

``overlap_stats`` gives the figures that compare the task with CrowdHuman's published ones (person pairs
per image at box IoU > 0.3 and > 0.5; the share of boxes whose highest same-class IoU is >= 0.5).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .copy_paste import box_iou_np, place_apart, place_beside
from .image_io import read_image

DEFAULT_SOURCES = {"train": ("coco_val493/images/val2017", "coco_val493/annotations/instances_val2017.json"),
                   "val": ("coco128/images/train2017", "coco128/annotations/instances_train2017.json")}
MAX_UPSCALE = 2.5  # a person is pasted at most this much larger than its source pixels (no blurry giants)
MARKER = "stats.json"  # written last: its presence means the build finished
DEFAULTS = dict(seed=0, train=400, val=200, size=640, near=0.5, people=[4, 20], min_visible=0.25)
"""The task's build options (the data YAML's ``crowds:`` mapping overrides them)."""


@dataclass
class Cutout:
    img: np.ndarray  # h x w x 3 BGR crop of the person's box
    mask: np.ndarray  # h x w uint8 {0, 1}
    source: str  # "file_name:annotation id"
    license: int | None


def load_cutouts(images_dir: Path, ann_file: Path, category: str = "person", min_height: int = 48,
                 min_fill: float = 0.25, border: float = 2.0, licenses: set[int] | None = None) -> list[Cutout]:
    """Person instances of a COCO json with polygon masks, cut out of their images (see module doc);
    ``licenses``: only from images under these licence ids (e.g. pictures that may be published)."""
    data = json.loads(Path(ann_file).read_text(encoding="utf-8"))
    cat = [c["id"] for c in data["categories"] if c.get("name") == category]
    if not cat:
        raise ValueError(f"{ann_file}: no category named {category!r}")
    images = {im["id"]: im for im in data["images"]}
    out: list[Cutout] = []
    by_image: dict[int, list[dict]] = {}
    for a in data["annotations"]:
        if a.get("category_id") == cat[0] and not a.get("iscrowd", 0) and isinstance(a.get("segmentation"), list):
            by_image.setdefault(a["image_id"], []).append(a)
    for iid in sorted(by_image):
        im = images[iid]
        if licenses is not None and im.get("license") not in licenses:
            continue
        W, H = im["width"], im["height"]
        img = None
        for a in sorted(by_image[iid], key=lambda a: a["id"]):
            x, y, w, h = a["bbox"]
            if h < min_height or w < 8 or x < border or y < border or x + w > W - border or y + h > H - border:
                continue
            polys = [p for p in a["segmentation"] if len(p) >= 6]
            if not polys:
                continue
            m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, H, W)))
            x0, y0, x1, y1 = int(x), int(y), int(np.ceil(x + w)), int(np.ceil(y + h))
            crop_m = m[y0:y1, x0:x1]
            if crop_m.sum() < min_fill * crop_m.size:
                continue
            if img is None:
                img = read_image(Path(images_dir) / im["file_name"])
            out.append(Cutout(img[y0:y1, x0:x1].copy(), crop_m.copy(), f"{im['file_name']}:{a['id']}",
                              im.get("license")))
    return out


def load_backgrounds(images_dir: Path, ann_file: Path, category: str = "person", licenses: set[int] | None = None
                     ) -> list[tuple[Path, int | None]]:
    """Images without any annotation of ``category`` (crowd regions included): (path, licence);
    ``licenses``: only images under these licence ids."""
    data = json.loads(Path(ann_file).read_text(encoding="utf-8"))
    cat = {c["id"] for c in data["categories"] if c.get("name") == category}
    with_cat = {a["image_id"] for a in data["annotations"] if a.get("category_id") in cat}
    return [(Path(images_dir) / im["file_name"], im.get("license")) for im in sorted(data["images"], key=lambda i: i["id"])
            if im["id"] not in with_cat and (licenses is None or im.get("license") in licenses)]


def compose_scene(rng: np.random.Generator, bg: np.ndarray, cutouts: list[Cutout], size: int = 640,
                  people: tuple[int, int] = (4, 20), near: float = 0.5, min_visible: float = 0.25
                  ) -> tuple[np.ndarray, list[dict]]:
    """One crowded image: (BGR image, annotations with 'bbox' xyxy amodal, 'mask' visible HxW uint8,
    'visible', 'source', 'license'). The random draws come in a fixed order (background, people, depth
    order), so a seed gives the same scene."""
    canvas = _background(rng, bg, size)
    H, W = canvas.shape[:2]
    boxes, picks = _place_people(rng, cutouts, W, H, people, near)
    order = rng.permutation(len(boxes))  # back to front
    placed = {i: _rasterise(boxes[i], *picks[i], W, H) for i in range(len(boxes))}
    front, vis = _drop_hidden(placed, order, W, H, min_visible)
    out = canvas.copy()
    for i in order:
        if i not in placed:
            continue
        px, py, im, mk = placed[i]
        alpha = cv2.GaussianBlur(mk.astype(np.float32), (3, 3), 0)[:, :, None]
        roi = out[py:py + mk.shape[0], px:px + mk.shape[1]].astype(np.float32)
        out[py:py + mk.shape[0], px:px + mk.shape[1]] = (alpha * im + (1 - alpha) * roi).astype(np.uint8)
    anns = []
    for i in sorted(placed):
        px, py, im, mk = placed[i]
        ys, xs = np.nonzero(mk)
        amodal = [px + xs.min(), py + ys.min(), px + xs.max() + 1, py + ys.max() + 1]
        anns.append(dict(bbox=[float(v) for v in amodal], mask=(front == i).astype(np.uint8), visible=vis[i],
                         source=picks[i][0].source, license=picks[i][0].license))
    return out, anns


def _background(rng: np.random.Generator, bg: np.ndarray, size: int) -> np.ndarray:
    """A random crop (60-100 % of each side), flipped half the time, long side -> ``size``."""
    bh, bw = bg.shape[:2]
    ch, cw = int(bh * rng.uniform(0.6, 1.0)), int(bw * rng.uniform(0.6, 1.0))
    y0, x0 = int(rng.integers(0, bh - ch + 1)), int(rng.integers(0, bw - cw + 1))
    canvas = bg[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1]
    r = size / max(ch, cw)
    W, H = max(32, round(cw * r)), max(32, round(ch * r))
    return cv2.resize(np.ascontiguousarray(canvas), (W, H), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)


def _place_people(rng: np.random.Generator, cutouts: list[Cutout], W: int, H: int, people: tuple[int, int],
                  near: float) -> tuple[list[np.ndarray], list[tuple[Cutout, bool]]]:
    """The people's boxes (xyxy) and (cutout, flipped): a scene scale with per-person jitter; each person
    after the first, with probability ``near``, beside a placed one at IoU 0.5-0.8, else apart."""
    n = int(rng.integers(people[0], people[1] + 1))
    scene_h = H * rng.uniform(0.22, 0.55)
    boxes: list[np.ndarray] = []
    picks: list[tuple[Cutout, bool]] = []
    for k in range(n):
        c = cutouts[int(rng.integers(len(cutouts)))]
        h = min(H - 2.0, scene_h * rng.uniform(0.8, 1.25), MAX_UPSCALE * c.img.shape[0])
        box = None
        if boxes and rng.random() < near:
            # beside a placed person, about as tall, a person of similar shape (else the IoU is out of reach)
            anchor = boxes[int(rng.integers(len(boxes)))]
            ah, aw = anchor[3] - anchor[1], anchor[2] - anchor[0]
            cands = [cutouts[int(j)] for j in rng.integers(len(cutouts), size=8)]
            c = min(cands, key=lambda x: abs(np.log(x.img.shape[1] / x.img.shape[0] * ah / aw)))
            h = min(H - 2.0, ah * rng.uniform(0.92, 1.08), MAX_UPSCALE * c.img.shape[0])
            w = h * c.img.shape[1] / c.img.shape[0]
            if w < W - 2:
                box = place_beside(rng, anchor, w, h, W, H, rng.uniform(0.5, 0.8))
        w = h * c.img.shape[1] / c.img.shape[0]
        if w >= W - 2:
            continue
        if box is None:
            box = place_apart(rng, w, h, W, H, boxes, tries=20)
        boxes.append(box)
        picks.append((c, bool(rng.random() < 0.5)))
    return boxes, picks


def _rasterise(box: np.ndarray, c: Cutout, flip: bool, W: int, H: int):
    """(x, y, image, mask) of one person resized to its box, cut at the image border."""
    x1, y1, x2, y2 = box
    pw, ph = max(1, round(x2 - x1)), max(1, round(y2 - y1))
    im = cv2.resize(c.img, (pw, ph), interpolation=cv2.INTER_LINEAR)
    mk = cv2.resize(c.mask, (pw, ph), interpolation=cv2.INTER_NEAREST)
    if flip:
        im, mk = im[:, ::-1], mk[:, ::-1]
    px, py = int(round(x1)), int(round(y1))
    pw, ph = min(pw, W - px), min(ph, H - py)
    return px, py, np.ascontiguousarray(im[:ph, :pw]), np.ascontiguousarray(mk[:ph, :pw])


def _drop_hidden(placed: dict, order, W: int, H: int, min_visible: float) -> tuple[np.ndarray, dict]:
    """Drop the least visible person until every one left shows at least ``min_visible`` of its mask;
    returns the map of the front person at each pixel (-1: background) and each one's visible share."""
    while True:
        front = np.full((H, W), -1, np.int32)
        for i in order:
            if i not in placed:
                continue
            px, py, im, mk = placed[i]
            region = front[py:py + mk.shape[0], px:px + mk.shape[1]]
            region[mk > 0] = i
        vis = {i: float((front == i).sum()) / max(1.0, float(placed[i][3].sum())) for i in placed}
        worst = min(vis, key=vis.get) if vis else None
        if worst is None or vis[worst] >= min_visible:
            return front, vis
        del placed[worst]


def overlap_stats(boxes_per_image: list[np.ndarray]) -> dict:
    """Crowd statistics of a person task: people per image, pairs per image at IoU > 0.3 / 0.5 (the
    CrowdHuman paper's measure), and the share of boxes whose highest IoU with another is >= 0.5."""
    pairs3 = pairs5 = crowded = total = 0
    for b in boxes_per_image:
        total += len(b)
        if len(b) < 2:
            continue
        iou = box_iou_np(b, b)
        np.fill_diagonal(iou, 0)
        iu = iou[np.triu_indices(len(b), 1)]
        pairs3 += int((iu > 0.3).sum())
        pairs5 += int((iu > 0.5).sum())
        crowded += int((iou.max(1) >= 0.5).sum())
    n = max(1, len(boxes_per_image))
    return {"images": len(boxes_per_image), "people": total, "people_per_image": total / n,
            "pairs_per_image_iou0.3": pairs3 / n, "pairs_per_image_iou0.5": pairs5 / n,
            "share_crowded_iou0.5": crowded / max(1, total)}


def build_split(out_root: Path, split: str, images_dir: Path, ann_file: Path, n_images: int, seed: int,
                size: int = 640, people: tuple[int, int] = (4, 20), near: float = 0.5,
                min_visible: float = 0.25, progress: bool = True) -> dict:
    """Write ``images/<split>/crowd_<split>_NNNNN.jpg`` and ``annotations/instances_<split>.json``."""
    cutouts = load_cutouts(images_dir, ann_file)
    bgs = load_backgrounds(images_dir, ann_file)
    if not cutouts or not bgs:
        raise ValueError(f"{ann_file}: {len(cutouts)} usable person instances and {len(bgs)} person-free "
                         "backgrounds; both must be non-zero")
    img_dir = Path(out_root) / "images" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns, boxes_all, aid = [], [], [], 1
    split_code = {"train": 0, "val": 1, "test": 2}.get(split, 3)
    for i in range(n_images):
        rng = np.random.default_rng([seed, split_code, i])
        bg_path, bg_lic = bgs[int(rng.integers(len(bgs)))]
        img, scene = compose_scene(rng, read_image(bg_path), cutouts, size, people, near, min_visible)
        name = f"crowd_{split}_{i:05d}.jpg"
        cv2.imwrite(str(img_dir / name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        images.append({"id": i + 1, "file_name": name, "width": img.shape[1], "height": img.shape[0],
                       "background": bg_path.name, "background_license": bg_lic})
        for a in scene:
            x1, y1, x2, y2 = a["bbox"]
            rle = mask_utils.encode(np.asfortranarray(a["mask"]))
            rle["counts"] = rle["counts"].decode("ascii")
            anns.append({"id": aid, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float(a["mask"].sum()),
                         "segmentation": rle, "visible": round(a["visible"], 4), "source": a["source"],
                         "source_license": a["license"]})
            aid += 1
        boxes_all.append(np.array([a["bbox"] for a in scene], np.float64).reshape(-1, 4))
        if progress and (i + 1) % 50 == 0:
            print(f"crowds {split}: {i + 1}/{n_images} images", flush=True)
    data = {"info": {"description": f"crowded persons from real COCO instances ({Path(ann_file).name}), "
                                    f"seed {seed}; see detector/data/crowds.py",
                     "source_annotations": "/".join(Path(ann_file).parts[-3:])},
            "licenses": json.loads(Path(ann_file).read_text(encoding="utf-8")).get("licenses", []),
            "images": images, "annotations": anns, "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    ann_dir = Path(out_root) / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    tmp = ann_dir / f".instances_{split}.json.tmp"
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, ann_dir / f"instances_{split}.json")
    return {**overlap_stats(boxes_all), "instances_available": len(cutouts), "backgrounds_available": len(bgs)}


def build(out_root: str | Path, source_root: str | Path, sources: dict | None = None, progress: bool = True,
          **options) -> dict:
    """Build both splits from ``source_root`` (the folder holding coco_val493/ and coco128/) with
    :data:`DEFAULTS` updated by ``options``; returns the overlap statistics per split (also written to
    ``stats.json``, last, as the marker of a finished build)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"crowd task: unknown option(s) {unknown}; known: {sorted(DEFAULTS)}")
    o = {**DEFAULTS, **options}
    o["people"] = [int(v) for v in o["people"]]
    if len(o["people"]) != 2 or not 1 <= o["people"][0] <= o["people"][1]:
        raise ValueError(f"crowd task: people must be [min, max] with 1 <= min <= max, got {o['people']}")
    src = Path(source_root)
    sources = sources or DEFAULT_SOURCES
    for split, (imgs, ann) in sources.items():
        if not (src / ann).is_file():
            raise FileNotFoundError(f"crowd task: source annotations {src / ann} not found (the shared COCO "
                                    f"subsets; give the folder that holds them)")
    stats = {}
    for split in ("train", "val"):
        imgs, ann = sources[split]
        stats[split] = build_split(Path(out_root), split, src / imgs, src / ann, int(o[split]), int(o["seed"]),
                                   int(o["size"]), tuple(o["people"]), float(o["near"]), float(o["min_visible"]),
                                   progress)
    stats["options"] = o
    Path(out_root, MARKER).write_text(json.dumps(stats, indent=1), encoding="utf-8")
    return stats


def ensure(root: str | Path, source: str | Path, **options) -> Path:
    """Build the task at ``root`` unless a finished build with the same options is there."""
    root = Path(root)
    marker = root / MARKER
    want = {**DEFAULTS, **options}
    want["people"] = [int(v) for v in want["people"]]
    if marker.is_file():
        try:
            done = json.loads(marker.read_text(encoding="utf-8")).get("options", {})
        except (OSError, json.JSONDecodeError):
            done = {}
        if done == want:
            return root
    print(f"building the crowd task in {root} from {source} (once; about a minute)", flush=True)
    build(root, source, **options)
    return root
