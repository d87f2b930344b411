#!/usr/bin/env python3
"""COCO-scale benchmarks on a replica built by tools/make_replica.py (docs/results/benchmarks.md, "COCO scale").
Every measurement runs in a fresh process, so its peak RSS is its own.

  python tools/bench_scale.py index --replica /tmp/coco_replica [--split train2017] [--yolo /tmp/yardstick/bin/python]
      first index (labels cache removed) and second start (cache present), wall time and peak RSS, both
      layouts (COCO json, YOLO txt); with --yolo the same for Ultralytics' YOLODataset on the YOLO layout.
  python tools/bench_scale.py loader --replica R [--img 640] [--samples 300] [--yolo PY]
      training samples/s of one loader process at 640 with the default augmentation (mosaic on), ours and
      Ultralytics', and the workers each needs to feed a GPU at 400 img/s.
  python tools/bench_scale.py workers --replica R [--workers 4] [--samples 3000]
      private memory (USS) of the main process and of each DataLoader worker after SAMPLES samples: the
      compact table against the same records as a list of Python objects (copy-on-write growth).
  python tools/bench_scale.py pred --replica R [--rows 500000]
      val.py --pred on a results file of ROWS rows (jittered ground truth of the val split), against
      pycocotools alone (loadRes + evaluate + accumulate), time and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _run(cmd: list[str], env: dict | None = None) -> dict:
    """Run a child that prints one JSON line last; add its wall time."""
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(wall, 1)
    return out


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def _child(args) -> None:
    """The measured side, in a fresh process: ``_child index DATA SPLIT`` etc."""
    {"index": _child_index, "loader": _child_loader, "workers": _child_workers,
     "pycocotools": _child_pycocotools}[args[0]](args)


def _child_index(args) -> None:
    data, split = args[1], args[2]
    from detector.data import index_split, load_data_config
    base = _rss_gb()
    t = time.perf_counter()
    idx = index_split(load_data_config(data), "train" if split.startswith("train") else "val")
    dt = time.perf_counter() - t
    recs = idx.records
    boxes = int(recs.box_counts().sum()) if hasattr(recs, "box_counts") else sum(len(r.boxes) for r in recs)
    print(json.dumps({"images": len(recs), "boxes": boxes, "index_s": round(dt, 1),
                      "peak_rss_gb": round(_rss_gb(), 2), "rss_before_gb": round(base, 2)}))


def _child_loader(args) -> None:
    data, img, n = args[1], int(args[2]), int(args[3])
    from detector.data import DetectionDataset, index_split, load_data_config
    idx = index_split(load_data_config(data), "train")
    ds = DetectionDataset(idx.records, img, augment=True)
    import numpy as np
    rng = np.random.default_rng(0)
    keys = [(int(i), 0) for i in rng.integers(0, len(ds), n + 10)]
    for k in keys[:10]:
        ds[k]
    t = time.perf_counter()
    for k in keys[10:]:
        ds[k]
    print(json.dumps({"samples_per_s": round(n / (time.perf_counter() - t), 1)}))


def _child_workers(args) -> None:
    data, workers, n, as_list = args[1], int(args[2]), int(args[3]), args[4] == "list"
    import psutil
    import torch

    from detector.data import DetectionDataset, build_dataloader, index_split, load_data_config
    idx = index_split(load_data_config(data), "train")
    recs = list(idx.records) if as_list else idx.records
    del idx
    ds = DetectionDataset(recs, 320, augment=True)
    loader, sampler = build_dataloader(ds, 16, workers, True, 0)
    sampler.set_epoch(0)
    seen = 0
    for batch in loader:
        seen += len(batch[0]) if isinstance(batch, (list, tuple)) else 16
        if seen >= n:
            break
    me = psutil.Process()
    kids = me.children(recursive=True)
    uss = [round(k.memory_full_info().uss / 2**20) for k in kids]
    print(json.dumps({"main_uss_mib": round(me.memory_full_info().uss / 2**20), "worker_uss_mib": uss,
                      "main_rss_mib": round(me.memory_info().rss / 2**20), "samples": seen,
                      "records": "list" if as_list else "table"}))
    del loader
    torch.cuda.empty_cache()


def _child_pycocotools(args) -> None:
    ann, pred = args[1], args[2]
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann)
        dt = gt.loadRes(pred)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    print(json.dumps({"time_s": round(time.perf_counter() - t, 1), "mAP": round(ev.stats[0], 4),
                      "peak_rss_gb": round(_rss_gb(), 2)}))


def _yolo_child(py: str, kind: str, *args) -> dict:
    return _run([py, str(ROOT / "tools/yardstick/ultralytics_scale.py"), kind, *map(str, args)])


def index(a) -> None:
    rep = Path(a.replica)
    split = a.split
    rows = []
    caches = {"coco": rep / "annotations" / f"instances_{split}.labels.npz",
              "yolo": rep / "labels" / f"{split}.labels.npz"}
    for layout, data in (("coco", rep / "coco.yaml"), ("yolo", rep / "coco_yolo.yaml")):
        caches[layout].unlink(missing_ok=True)
        for run in ("first", "second"):
            r = _run([sys.executable, __file__, "_child", "index", str(data), split])
            rows.append((f"ours, {layout} layout", run, r))
            print(rows[-1], flush=True)
    if a.yolo:
        (rep / "labels" / f"{split}.cache").unlink(missing_ok=True)
        for run in ("first", "second"):
            r = _yolo_child(a.yolo, "index", rep / "coco_yolo.yaml", split)
            rows.append(("Ultralytics YOLODataset, yolo layout", run, r))
            print(rows[-1], flush=True)
    print("\n| tool | run | images | wall s (process) | index s | peak RSS GB (before indexing) |\n|---|---|---|---|---|---|")
    for name, run, r in rows:
        print(f"| {name} | {run} | {r['images']:,} | {r['wall_s']} | {r['index_s']} | {r['peak_rss_gb']} "
              f"({r['rss_before_gb']}) |")


def loader(a) -> None:
    rep = Path(a.replica)
    out = []
    for _ in range(a.repeat):  # interleaved
        out.append(("ours", _run([sys.executable, __file__, "_child", "loader", str(rep / "coco.yaml"), str(a.img),
                                  str(a.samples)])))
        print(out[-1], flush=True)
        if a.yolo:
            out.append(("Ultralytics", _yolo_child(a.yolo, "loader", rep / "coco_yolo.yaml", a.img, a.samples)))
            print(out[-1], flush=True)
    print("\n| loader | samples/s per process | workers for 400 img/s |\n|---|---|---|")
    for name, r in out:
        s = r["samples_per_s"]
        print(f"| {name} | {s} | {400 / s:.0f} |")


def workers(a) -> None:
    rep = Path(a.replica)
    for how in ("table", "list"):
        r = _run([sys.executable, __file__, "_child", "workers", str(rep / "coco.yaml"), str(a.workers),
                  str(a.samples), how])
        print(r, flush=True)


def pred(a) -> None:
    import numpy as np
    rep = Path(a.replica)
    ann = rep / "annotations" / f"instances_{a.split}.json"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res = out / f"results_{a.rows}.json"
    if not res.is_file():
        gt = json.loads(ann.read_text())
        rng = np.random.default_rng(0)
        boxes = {}
        for g in gt["annotations"]:
            boxes.setdefault(g["image_id"], []).append((g["bbox"], g["category_id"]))
        ims = [im["id"] for im in gt["images"]]
        per = a.rows // len(ims)
        rows = []
        cats = [c["id"] for c in gt["categories"]]
        for iid in ims:
            have = boxes.get(iid, [])
            for k in range(per):
                if k < len(have):
                    (x, y, w, h), c = have[k]
                    j = rng.normal(0, 0.05, 4)
                    bb = [x + j[0] * w, y + j[1] * h, w * (1 + j[2]), h * (1 + j[3])]
                else:
                    c = cats[int(rng.integers(len(cats)))]
                    bb = list(rng.uniform(0, 300, 2)) + list(rng.uniform(5, 200, 2))
                rows.append({"image_id": iid, "category_id": c, "bbox": [round(float(v), 2) for v in bb],
                             "score": round(float(rng.uniform(0.001, 1) if k >= len(have) else rng.uniform(0.3, 1)), 5)})
        res.write_text(json.dumps(rows))
    print(f"{res}: {res.stat().st_size / 2**20:.0f} MiB", flush=True)
    val = "train" if a.split.startswith("train") else "val"
    data = rep / "coco.yaml"
    for _ in range(a.repeat):
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, str(ROOT / "tools/val.py"), "--data",
                            str(data), "--split", val, "--pred", str(res), "--project", str(out), "--name", "val",
                            "--exist-ok"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        rss = int(p.stderr.strip().splitlines()[-1]) / 2**20
        m = [ln for ln in p.stdout.splitlines() if "Average Precision" in ln][:1]
        print({"tool": "val.py --pred", "rc": p.returncode, "wall_s": round(wall, 1), "peak_rss_gb": round(rss, 2),
               "first_line": m}, flush=True)
        if p.returncode:
            print(p.stdout[-2000:], p.stderr[-2000:])
        r = _run([sys.executable, __file__, "_child", "pycocotools", str(ann), str(res)])
        print({"tool": "pycocotools alone", **r}, flush=True)


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "_child":
        _child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("index", "loader", "workers", "pred"):
        p = sub.add_parser(name)
        p.add_argument("--replica", required=True)
        p.add_argument("--split", default="train2017" if name != "pred" else "val2017")
        p.add_argument("--yolo", default=None, help="python of the yardstick environment (ultralytics installed)")
        p.add_argument("--img", type=int, default=640)
        p.add_argument("--samples", type=int, default=300 if name == "loader" else 3000)
        p.add_argument("--workers", type=int, default=4)
        p.add_argument("--rows", type=int, default=500_000)
        p.add_argument("--repeat", type=int, default=2)
        p.add_argument("--out", default="runs/bench_scale")
    a = ap.parse_args(argv)
    {"index": index, "loader": loader, "workers": workers, "pred": pred}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
