#!/usr/bin/env python3
"""Sliced inference, measured: the same checkpoints validated on the whole val images four ways — the whole
image at --img, the whole image at --big-img (the "just raise the resolution" answer), tiles only, tiles plus
the whole image — COCO AP / AP50 / AP_small / AR100 and the model time per image, mean ± std over the given
checkpoints (one per seed). Every setting goes through tools/val.py's evaluation (detector/eval); the
settings are interleaved per checkpoint so that machine load falls on all alike.

  python tools/slice_dataset.py --data aerial.yaml --out sl640 --size 640 --overlap 0.2 --full
  python tools/train.py --cfg cfg/yolo_ca_bifpn.yaml --data sl640/data.yaml --img 320 --epochs 20 --seed 0 ...
  python tools/bench_slicing.py --data sl640/data.yaml --weights runs/aerial/s*/weights/last.pt \\
      --img 320 --big-img 960 --slice 640 --slice-img 320 352 --out runs/bench_slicing
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.ablation.stats import summarize  # noqa: E402
from detector.eval import ValConfig, evaluate  # noqa: E402
from detector.utils.io import write_json, write_text  # noqa: E402
from detector.utils.timing import machine_line  # noqa: E402

KEYS = ("mAP50-95", "mAP50", "mAP_small", "AR100")


def settings(a) -> dict[str, dict]:
    """Setting name -> ValConfig fields."""
    s = {f"whole image @{a.img}": {"img": a.img}}
    if a.big_img:
        s[f"whole image @{a.big_img}"] = {"img": a.big_img}
    for tile_img in a.slice_img or [None]:
        tiles = f"{a.slice} px tiles" + (f" @{tile_img}" if tile_img else " (native)")
        for full in (False, True):
            s[f"{tiles} + whole @{a.img}" if full else f"{tiles}, tiles only"] = {
                "img": a.img, "slice": a.slice, "slice_overlap": a.overlap, "slice_img": tile_img, "slice_full": full}
    return s


def ms_per_image(m: dict) -> float:
    sp = m.get("speed", {})
    return float(sp.get("preprocess", 0.0)) + float(sp.get("inference", 0.0)) + float(sp.get("nms", 0.0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights", nargs="+", required=True, help="one checkpoint per seed")
    ap.add_argument("--img", type=int, default=640)
    ap.add_argument("--big-img", type=int, default=None, help="also the whole image at this input size")
    ap.add_argument("--slice", type=int, default=640)
    ap.add_argument("--overlap", type=float, default=0.2)
    ap.add_argument("--slice-img", type=int, nargs="*", default=None, help="tile input sizes (default: native)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs/bench_slicing")
    a = ap.parse_args(argv)
    out = Path(a.out)
    rows: dict[str, list[dict]] = {}
    for w in a.weights:
        for i, (name, fields) in enumerate(settings(a).items()):
            cfg = ValConfig(weights=w, data=a.data, batch=a.batch, device=a.device, plots=False, save_json=False,
                            **fields)
            t0 = time.perf_counter()
            m = evaluate(cfg, out / "val" / f"{Path(w).parent.parent.name}-{i}")
            r = {k: float(m[k]) for k in KEYS} | {"ms": ms_per_image(m), "wall_s": time.perf_counter() - t0,
                                                  "weights": w}
            rows.setdefault(name, []).append(r)
            print(f"{w} | {name}: " + " ".join(f"{k} {r[k]:.4f}" for k in KEYS) + f" | {r['ms']:.0f} ms/img", flush=True)
    base = next(iter(rows))
    lines = [f"Data: `{a.data}` (val split); checkpoints: {len(a.weights)} (mean ± std over them); "
             f"overlap {a.overlap}; {machine_line()}", "",
             "| inference | AP50-95 | AP50 | AP_small | AR100 | ms / image | AP vs whole @img |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rs in rows.items():
        cells = [summarize([r[k] for r in rs]) for k in KEYS]
        ms = summarize([r["ms"] for r in rs])
        ratio = summarize([r["mAP50-95"] / max(b["mAP50-95"], 1e-9) for r, b in zip(rs, rows[base])])
        lines.append(f"| {name} | " + " | ".join(f"{c.mean:.4f} ± {c.std:.4f}" if c.n > 1 else f"{c.mean:.4f}"
                                                  for c in cells) + f" | {ms.mean:.0f} | {ratio.mean:.2f}x |")
    md = "\n".join(lines) + "\n"
    write_text(out / "slicing.md", md)
    write_json(out / "slicing.json", {"args": vars(a), "rows": rows})
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
