#!/usr/bin/env python3
"""Ultralytics' predictions.json (`yolo val ... save_json=True`) on the held-out synthetic val split: our
val.py --pred vs pycocotools with the ground truth built the way Ultralytics builds it (image id = file stem, category id = class + 1).
Usage (from the repository root, our venv): python tools/yardstick/results_roundtrip.py PREDICTIONS_JSON
"""
import contextlib
import io
import json
import sys
from pathlib import Path

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from detector.eval.val_job import ValConfig, evaluate  # noqa: E402

pred = Path(sys.argv[1])
data = "cfg/data/synthetic_heldout.yaml"
gt = json.loads(Path("datasets/synthetic_heldout/annotations/instances_val.json").read_text())
stem = {im["id"]: Path(im["file_name"]).stem for im in gt["images"]}
# Ultralytics' own convention: image id = stem (string here), category id = class + 1 (this json's ids are class + 1)
gt_u = {"images": [dict(im, id=stem[im["id"]]) for im in gt["images"]],
        "annotations": [dict(a, image_id=stem[a["image_id"]]) for a in gt["annotations"]], "categories": gt["categories"]}
c = COCO(); c.dataset = gt_u
with contextlib.redirect_stdout(io.StringIO()):
    c.createIndex(); dt = c.loadRes(str(pred)); ev = COCOeval(c, dt, "bbox"); ev.evaluate(); ev.accumulate(); ev.summarize()
ours = evaluate(ValConfig(data=data, pred=str(pred), plots=False), Path("/tmp/rt_val"))
print(f"pycocotools, Ultralytics' GT convention: mAP50-95 {ev.stats[0]:.6f} mAP50 {ev.stats[1]:.6f}")
print(f"our val.py --pred:                      mAP50-95 {ours['mAP50-95']:.6f} mAP50 {ours['mAP50']:.6f}")
print(f"difference: {abs(ev.stats[0] - ours['mAP50-95']):.2e} / {abs(ev.stats[1] - ours['mAP50']):.2e}")
