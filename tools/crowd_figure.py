#!/usr/bin/env python3
"""Picture: the same crowded images under greedy and adaptive NMS, side by side.

  python tools/crowd_figure.py --weights runs/ablate/crowd/runs/yolo_ca_bifpn-s0/weights/last.pt \\
      --iou 0.5 --nms adaptive_soft --out docs/crowds.jpg
Each row is one crowded scene built like the crowd task's val split (people and backgrounds of coco128,
never trained on) but only from pictures whose licence allows publishing (COCO licence ids 4, 5, 7 by
default; the sources are credited in the --credits file). Left: greedy NMS, right: --nms (default
adaptive_soft, or another registered method), both at IoU --iou; box colour = predicted crowd density (blue isolated -> red
crowded); a thick white outline marks what the right-hand method keeps and greedy removes; ground truth
dashed grey.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.data.crowds import DEFAULT_SOURCES, compose_scene, load_backgrounds, load_cutouts  # noqa: E402
from detector.data.image_io import read_image  # noqa: E402
from detector.predict.api import Detector  # noqa: E402
from detector.ops.nms import nms_methods  # noqa: E402
from detector.utils.io import write_text  # noqa: E402
from detector.utils.plots import draw_boxes, mark_boxes, titled  # noqa: E402


def unmatched(a: np.ndarray, b: np.ndarray, thr: float = 0.95) -> np.ndarray:
    """Boxes of ``a`` [N, 4] with no box of ``b`` at IoU >= thr (kept by one NMS, removed by the other)."""
    import torch
    from torchvision.ops import box_iou

    if len(a) == 0 or len(b) == 0:
        return a
    iou = box_iou(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64))
    return a[(iou.amax(1) < thr).numpy()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--source", default=str(ROOT.parent / "shared" / "data"), help="folder holding coco128/")
    ap.add_argument("--n", type=int, default=3, help="scenes (rows)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--img", type=int, default=320)
    ap.add_argument("--size", type=int, default=480, help="long side of each scene")
    ap.add_argument("--iou", type=float, default=0.6, help="NMS IoU threshold of both methods")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--nms", default="adaptive_soft", choices=nms_methods(), help="the right-hand method")
    ap.add_argument("--licenses", type=int, nargs="+", default=[4, 5, 7])
    ap.add_argument("--out", default="docs/crowds.jpg")
    ap.add_argument("--credits", default="docs/crowds_credits.md")
    a = ap.parse_args(argv)
    import cv2

    imgs, ann = DEFAULT_SOURCES["val"]
    src = Path(a.source)
    lic = set(a.licenses)
    cutouts = load_cutouts(src / imgs, src / ann, licenses=lic)
    bgs = load_backgrounds(src / imgs, src / ann, licenses=lic)
    if not cutouts or not bgs:
        print(f"error: {src / ann}: no people or backgrounds under licences {sorted(lic)}", file=sys.stderr)
        return 2
    greedy = Detector(a.weights, "cpu", a.img, a.conf, a.iou, "greedy")
    right = Detector(a.weights, "cpu", a.img, a.conf, a.iou, a.nms)
    rows, used = [], set()
    for i in range(a.n):
        rng = np.random.default_rng([a.seed, i])
        bg_path, _ = bgs[int(rng.integers(len(bgs)))]
        scene, gt = compose_scene(rng, read_image(bg_path), cutouts, a.size, (6, 12))
        used.add(bg_path.name)
        used.update(g["source"].split(":")[0] for g in gt)
        gtb = np.array([g["bbox"] for g in gt], np.float32).reshape(-1, 4)
        g, d = greedy.predict_arrays([scene])[0], right.predict_arrays([scene])[0]
        extra = unmatched(d.boxes, g.boxes)
        left = draw_boxes(scene, g.boxes, g.classes, g.names, None, 2, True, densities=g.densities, crowd=gtb)
        right = draw_boxes(mark_boxes(scene, extra), d.boxes, d.classes, d.names, None, 2, True,
                           densities=d.densities, crowd=gtb)
        rows.append(np.concatenate([titled(left, f"greedy @{a.iou:g}: {len(g)} kept, {len(gt)} people"),
                                    np.full((left.shape[0] + 26, 8, 3), 255, np.uint8),
                                    titled(right, f"{a.nms} @{a.iou:g}: {len(d)} kept, +{len(extra)}")], 1))
    w = max(r.shape[1] for r in rows)
    pic = np.concatenate([np.pad(r, ((0, 8), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows], 0)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(a.out, pic)
    data = json.loads((src / ann).read_text(encoding="utf-8"))
    names = {lc["id"]: lc.get("name", str(lc["id"])) for lc in data.get("licenses", [])}
    lines = [f"# Credits for {Path(a.out).name}", "", "People and backgrounds from COCO train2017 images (coco128), "
             "pasted into new scenes by tools/crowd_figure.py:", ""]
    for im in sorted(data["images"], key=lambda x: x["file_name"]):
        if im["file_name"] in used:
            lines.append(f"- {im['file_name']}: {im.get('flickr_url') or im.get('coco_url', '')} "
                         f"({names.get(im.get('license'), im.get('license'))})")
    write_text(a.credits, "\n".join(lines) + "\n")
    print(f"written {a.out} and {a.credits}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
