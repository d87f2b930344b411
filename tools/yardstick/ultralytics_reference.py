#!/usr/bin/env python3
"""Yardstick script, run with the Python of a separate environment that has ultralytics installed
(never with ours): writes a randomly initialised YOLOv8 / YOLO11 / YOLO26 detection checkpoint in
Ultralytics' own format plus its head outputs on a fixed input, for checking tools/convert.py's weight mapping.

  /tmp/yardstick/bin/python tools/yardstick/ultralytics_reference.py --scale n --nc 80 --out /tmp/v8n
  /tmp/yardstick/bin/python tools/yardstick/ultralytics_reference.py --scale t --width 0.0625 --nc 3 \\
      --out tests/fixtures/ultralytics/yolov8t        # the small fixtures the tests use
  /tmp/yardstick/bin/python tools/yardstick/ultralytics_reference.py --family 11 --scale t --width 0.0625 \\
      --nc 3 --out tests/fixtures/ultralytics/yolo11t
  /tmp/yardstick/bin/python tools/yardstick/ultralytics_reference.py --family 26 --scale t --width 0.0625 \\
      --nc 3 --out tests/fixtures/ultralytics/yolo26t
  /tmp/yardstick/bin/python tools/yardstick/ultralytics_reference.py --family 11 --scale t --width 0.0625 \\
      --nc 3 --source-nc 20 --out tests/fixtures/ultralytics/yolo11t_ft   # fine-tuned from 20 classes to 3
Writes OUT.pt (pickled model object, fp16 as released checkpoints are) and OUT_outputs.pt (plain tensors of
the fp16-rounded weights run in fp32: the input, the raw box logits [B, 4*16, N] and class logits [B, nc, N]
over all levels' cells, and the decoded [B, 4 + nc, N]: cx, cy, w, h in pixels, class probabilities; YOLO26:
also its one-to-one branch's raw boxes/scores and its end-to-end output [B, max_det, 6]: x1, y1, x2, y2, score,
class). ``--depth`` sets the depth multiple of the custom scale (default YOLO11/26's 0.5, YOLOv8's 0.33); a scale
named m, l or x takes C3k blocks in C3k2, as Ultralytics builds them.
"""
import argparse
from pathlib import Path

import torch
import yaml
from ultralytics.nn.tasks import DetectionModel

import ultralytics

ap = argparse.ArgumentParser()
ap.add_argument("--family", default="v8", choices=["v8", "11", "26"])
ap.add_argument("--scale", default="n")
ap.add_argument("--depth", type=float, default=None)
ap.add_argument("--width", type=float, default=None, help="custom width multiple (with a new --scale name)")
ap.add_argument("--nc", type=int, default=80)
ap.add_argument("--source-nc", type=int, default=None,
                help="start from a random model of this many classes, as Ultralytics fine-tunes one (model.load: "
                     "the class branch keeps the source's hidden width)")
ap.add_argument("--img", type=int, default=64)
ap.add_argument("--out", required=True)
a = ap.parse_args()
name = {"v8": "v8/yolov8.yaml", "11": "11/yolo11.yaml", "26": "26/yolo26.yaml"}[a.family]
cfg = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models" / name).read_text())
if a.width:
    cfg["scales"] = {a.scale: [a.depth or (0.33 if a.family == "v8" else 0.5), a.width, 1024]}
cfg["scale"], cfg["nc"] = a.scale, a.nc
torch.manual_seed(0)
model = DetectionModel(cfg, nc=a.nc, verbose=False)
if a.source_nc:  # what `yolo train model=SOURCE.pt data=<a.nc classes>` starts from
    model.load(DetectionModel({**cfg, "nc": a.source_nc}, nc=a.source_nc, verbose=False), verbose=False)
with torch.no_grad():  # BN statistics and affine parameters away from their defaults, so that the check bites
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
model = model.half().float().eval()  # the released precision
x = torch.rand(1, 3, a.img, a.img, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    decoded, branches = model(x)  # eval: (Tensor[B, 4 + nc, N] xywh + sigmoid scores, raw branches)
if not isinstance(branches, dict):  # older heads: a list of per-level [B, 4*16 + nc, H, W]
    flat = torch.cat([f.flatten(2) for f in branches], 2)
    branches = {"boxes": flat[:, :64], "scores": flat[:, 64:]}
extra = {}
if "one2one" in branches:  # YOLO26: both branches, and the NMS-free output of the one-to-one branch
    o2o = branches["one2one"]
    branches = branches["one2many"]
    model.end2end = True
    with torch.no_grad():
        e2e = model(x)[0]
    extra = {"boxes_o2o": o2o["boxes"].float(), "scores_o2o": o2o["scores"].float(), "end2end": e2e.float()}
Path(a.out).parent.mkdir(parents=True, exist_ok=True)
torch.save({"date": "fixture", "version": ultralytics.__version__, "model": model.half(), "ema": None,
            "optimizer": None, "train_args": {"model": name.split("/")[1], "nc": a.nc}}, f"{a.out}.pt")
torch.save({"input": x, "boxes": branches["boxes"].float(), "scores": branches["scores"].float(), "decoded": decoded.float(),
            "ultralytics": ultralytics.__version__, **extra}, f"{a.out}_outputs.pt")
print(f"wrote {a.out}.pt and {a.out}_outputs.pt (ultralytics {ultralytics.__version__}, "
      f"{sum(p.numel() for p in model.parameters())} parameters)")
