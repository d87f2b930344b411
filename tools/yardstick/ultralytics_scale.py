#!/usr/bin/env python3
"""Yardstick script for tools/bench_scale.py, run with the Python of a separate environment that has
ultralytics installed (never with ours): Ultralytics' own YOLODataset on a YOLO-txt layout.

  /tmp/yardstick/bin/python tools/yardstick/ultralytics_scale.py index R/coco_yolo.yaml train2017
  /tmp/yardstick/bin/python tools/yardstick/ultralytics_scale.py loader R/coco_yolo.yaml 640 300
Prints one JSON line, as tools/bench_scale.py's children do.
"""
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from ultralytics.cfg import get_cfg
from ultralytics.data.dataset import YOLODataset
from ultralytics.utils import DEFAULT_CFG


def rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def dataset(data_yaml, split, img, augment):
    d = yaml.safe_load(Path(data_yaml).read_text())
    names = d["names"]
    data = {"names": names, "nc": len(names), "channels": 3, "path": d["path"]}
    hyp = get_cfg(DEFAULT_CFG)
    return YOLODataset(img_path=str(Path(d["path"]) / f"images/{split}"), imgsz=img, augment=augment, hyp=hyp,
                       data=data, batch_size=16, rect=False, task="detect")


kind = sys.argv[1]
if kind == "index":
    base = rss_gb()
    t = time.perf_counter()
    ds = dataset(sys.argv[2], sys.argv[3], 640, False)
    dt = time.perf_counter() - t
    print(json.dumps({"images": len(ds.labels), "boxes": int(sum(len(x["cls"]) for x in ds.labels)),
                      "index_s": round(dt, 1), "peak_rss_gb": round(rss_gb(), 2), "rss_before_gb": round(base, 2)}))
elif kind == "loader":
    img, n = int(sys.argv[3]), int(sys.argv[4])
    ds = dataset(sys.argv[2], "train2017", img, True)
    rng = np.random.default_rng(0)
    idx = [int(i) for i in rng.integers(0, len(ds), n + 10)]
    for i in idx[:10]:
        ds[i]
    t = time.perf_counter()
    for i in idx[10:]:
        ds[i]
    print(json.dumps({"samples_per_s": round(n / (time.perf_counter() - t), 1)}))
