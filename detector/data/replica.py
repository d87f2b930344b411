"""A COCO-size replica built from real COCO annotations and images, for measuring at the mission's size.

COCO itself cannot be downloaded everywhere, but its *size* can be built from any real COCO instances
json and its images: each new image is a symbolic link (under a new, unique COCO-style name and id) to a
real image, and carries a copy of that image's real annotations (boxes, polygons, crowd regions) with new
annotation ids. Two layouts are written over the same image links, as users have them:

- the official COCO layout: ``annotations/instances_<split>.json`` beside ``images/<split>/``,
  with ``coco.yaml`` (our data YAML) pointing at it;
- Ultralytics' YOLO-txt layout: ``labels/<split>/<stem>.txt`` (``class cx cy w h``, normalized, classes
  0..79 in category-id order, crowd annotations left out as Ultralytics' converter does) beside the same
  ``images/<split>/``, with ``coco_yolo.yaml`` in Ultralytics' key style (``path``, ``train``, ``val``,
  ``names: {0: person, ...}``).

Deterministic: the same sources, sizes and seed give byte-identical files.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils.safe_load import read_json

# COCO 2017's sizes: train2017 118 287 images (860 001 annotations), val2017 5 000 (36 781).
COCO_SIZES = {"train2017": 118_287, "val2017": 5_000}


@dataclass
class ReplicaSplit:
    name: str
    images: int
    annotations: int
    json_path: Path
    json_bytes: int
    names: list[str]


def _load_source(images_dir: Path, ann_file: Path) -> tuple[list[tuple[dict, Path, list[dict]]], list[dict], list]:
    data = read_json(ann_file)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations",
                                                                                     "categories")):
        raise ValueError(f"{ann_file}: not a COCO instances file (needs 'images', 'annotations', 'categories' lists)")
    by_image: dict = {}
    for a in data["annotations"]:
        by_image.setdefault(a.get("image_id"), []).append(a)
    pool = []
    for im in sorted(data["images"], key=lambda im: im["id"]):
        path = (Path(images_dir) / im["file_name"]).resolve()
        if not path.is_file():
            raise ValueError(f"{ann_file}: image {im['id']} file {path} not found")
        pool.append((im, path, by_image.get(im["id"], [])))
    if not pool:
        raise ValueError(f"{ann_file}: no images")
    return pool, sorted(data["categories"], key=lambda c: c["id"]), data.get("licenses", [])


def build_split(sources: list[tuple[Path, Path]], out: Path, split: str, n_images: int, seed: int = 0,
                first_id: int = 1, yolo: bool = True) -> ReplicaSplit:
    """Write ``n_images`` replicated images of ``sources`` ((images dir, instances json) pairs) as ``split``
    under ``out``: image links, the instances json and (``yolo``) the YOLO label files."""
    pool, cats, licenses = [], None, []
    for images_dir, ann_file in sources:
        p, c, lic = _load_source(Path(images_dir), Path(ann_file))
        if cats is not None and [x["id"] for x in c] != [x["id"] for x in cats]:
            raise ValueError(f"{ann_file}: categories differ from the first source's")
        pool, cats, licenses = pool + p, c if cats is None else cats, licenses or lic
    order = np.random.default_rng(seed).permutation(len(pool))
    cat_index = {c["id"]: i for i, c in enumerate(cats)}
    img_dir, lbl_dir, ann_dir = out / "images" / split, out / "labels" / split, out / "annotations"
    for d in (img_dir, ann_dir) + ((lbl_dir,) if yolo else ()):
        d.mkdir(parents=True, exist_ok=True)
    images, anns, ann_id = [], [], 1
    for k in range(n_images):
        im, src, src_anns = pool[order[k % len(pool)]]
        iid = first_id + k
        name = f"{iid:012d}.jpg"
        link = img_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(src, link)
        w, h = im["width"], im["height"]
        images.append({**{k2: v for k2, v in im.items() if k2 not in ("id", "file_name")}, "id": iid,
                       "file_name": name})
        lines = []
        for a in src_anns:
            anns.append({**a, "id": ann_id, "image_id": iid})
            ann_id += 1
            if yolo and not a.get("iscrowd", 0):
                x, y, bw, bh = a["bbox"]
                lines.append(f"{cat_index[a['category_id']]} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} "
                             f"{bw / w:.6f} {bh / h:.6f}")
        if yolo:
            (lbl_dir / f"{iid:012d}.txt").write_text("".join(ln + "\n" for ln in lines))
    doc = {"info": {"description": f"COCO-size replica ({split}, {n_images} images) of real COCO annotations",
                    "version": "1.0"},
           "licenses": licenses, "images": images, "annotations": anns, "categories": cats}
    json_path = ann_dir / f"instances_{split}.json"
    tmp = json_path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(tmp, json_path)
    return ReplicaSplit(split, n_images, len(anns), json_path, json_path.stat().st_size,
                        [str(c.get("name", c["id"])) for c in cats])


def write_yamls(out: Path, splits: list[str], names: list[str]) -> tuple[Path, Path]:
    """Our data YAML (COCO json layout) and Ultralytics' (YOLO-txt layout) for the replica."""
    train, val = (splits + splits)[:2] if len(splits) < 2 else splits[:2]
    ours = out / "coco.yaml"
    ours.write_text("# COCO-size replica, official COCO json layout (detector/data/replica.py)\n"
                    f"path: {out.resolve()}\n"
                    f"train: {{images: images/{train}, annotations: annotations/instances_{train}.json}}\n"
                    f"val: {{images: images/{val}, annotations: annotations/instances_{val}.json}}\n")
    ul = out / "coco_yolo.yaml"
    ul.write_text("# COCO-size replica, Ultralytics' YOLO-txt layout (images/ + labels/)\n"
                  f"path: {out.resolve()}\ntrain: images/{train}\nval: images/{val}\nnames:\n"
                  + "".join(f"  {i}: {json.dumps(n)}\n" for i, n in enumerate(names)))
    return ours, ul


def build_replica(out: Path, train_sources: list[tuple[Path, Path]], val_sources: list[tuple[Path, Path]],
                  sizes: dict[str, int] | None = None, seed: int = 0, yolo: bool = True) -> list[ReplicaSplit]:
    """Both splits (default COCO 2017's sizes: ``train2017`` from ``train_sources``, ``val2017`` from
    ``val_sources``) and both data YAMLs under ``out``."""
    sizes = sizes or COCO_SIZES
    out = Path(out)
    made, first = [], 1
    for split, n in sizes.items():
        src = val_sources if split.startswith("val") else train_sources
        made.append(build_split(src, out, split, n, seed=seed, first_id=first, yolo=yolo))
        first += 10 ** len(str(n))  # ids of the splits never overlap
    write_yamls(out, list(sizes), made[0].names if made else [])
    return made
