#!/usr/bin/env python3
"""Yardstick script, run with the Python of a separate environment that has ultralytics installed (never
with ours): an Ultralytics checkpoint's raw head outputs on real images, for checking our reading of it.

  /tmp/yardstick/bin/python tools/yardstick/ultralytics_outputs.py --weights last.pt --img 320 \\
      --images ../shared/data/coco128/images/train2017 --n 4 --out /tmp/ref.pt
Writes plain tensors: the input batch (letterboxed to img x img, 0..1 RGB), per branch the raw box and class
outputs [B, C, N] over all levels' cells ("one2many", and "one2one" for YOLO26).
"""
import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
import ultralytics
from ultralytics.nn.tasks import load_checkpoint

ap = argparse.ArgumentParser()
ap.add_argument("--weights", required=True)
ap.add_argument("--img", type=int, default=320)
ap.add_argument("--images", required=True)
ap.add_argument("--n", type=int, default=4)
ap.add_argument("--out", required=True)
a = ap.parse_args()
model, _ = load_checkpoint(a.weights, device="cpu")
model = model.float().eval()
batch = []
for p in sorted(Path(a.images).iterdir())[:a.n]:
    im = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
    r = a.img / max(im.shape[:2])
    im = cv2.resize(im, (round(im.shape[1] * r), round(im.shape[0] * r)))
    canvas = np.full((a.img, a.img, 3), 114, np.uint8)
    canvas[:im.shape[0], :im.shape[1]] = im
    batch.append(torch.from_numpy(canvas).permute(2, 0, 1).float() / 255)
x = torch.stack(batch)
with torch.no_grad():
    _, preds = model(x)
branches = preds if "one2one" in preds else {"one2many": preds}
out = {"input": x, "ultralytics": ultralytics.__version__}
for name, b in branches.items():
    out[name] = {"boxes": b["boxes"].float(), "scores": b["scores"].float()}
torch.save(out, a.out)
print(f"wrote {a.out}: {len(x)} images, branches {list(branches)}")
