#!/usr/bin/env python3
"""Checkpoint parity with Ultralytics on a real split (issue 40 item 1; results: docs/results/benchmarks.md).

For each model (e.g. yolo11n, yolo26n): Ultralytics trains it through its own CLI (a yardstick environment,
never imported) on the data's train split, validates its last.pt with its own val (save_json), and our
evaluator scores those predictions; then our val reads the same last.pt (converted on load, nothing in
it run) and scores its own predictions of the same images with the same NMS settings (greedy at IoU 0.7,
conf 0.001, 300 per image: Ultralytics' val defaults). YOLO26 also NMS-free: its ``nms=False`` beside our
``--nms none``. Both sides' figures come from the same evaluator on the same ground truth, so what differs is
only the model's conversion and the pre-processing; "ours" uses Ultralytics' val padding (``--rect-pad 0.5``:
a 320 px image runs at 352), "ours_own_padding" our default.

  python tools/bench_ultralytics.py --yolo /tmp/yardstick/bin/yolo --models yolo11n yolo26n \\
      --data cfg/data/coco_val493.yaml --epochs 15 --img 320 --batch 16
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.ablation.keys import EVAL_KEYS  # noqa: E402
from detector.ablation.peers import PeerRunner, find_yolo_cli  # noqa: E402
from detector.ablation.runner import Recipe  # noqa: E402
from detector.data import index_split, load_data_config  # noqa: E402
from detector.eval import ValConfig, evaluate  # noqa: E402
from detector.ops.nms import IOU_THRES, VAL_CONF  # noqa: E402
from detector.utils.io import write_json  # noqa: E402


def _theirs_nms_free(runner: PeerRunner, model: str, seed: int, val_idx) -> dict:
    """Ultralytics' val with ``nms=False`` (its one-to-one head, top-k), scored by our evaluator."""
    r, d = runner.recipe, runner.run_dir(model, seed)
    last = d / "train" / "weights" / "last.pt"
    runner._cmd("detect", "val", f"model={last.resolve()}", f"data={runner.data_yaml.resolve()}", f"imgsz={r.img}",
                f"batch={r.batch}", f"conf={VAL_CONF}", "nms=False", "save_json=True", "plots=False", "device=cpu",
                f"project={d.resolve()}", "name=val_e2e", "exist_ok=True", log_file=d / "log.txt")
    ours = d / "predictions_ours_e2e.json"
    write_json(ours, runner._to_our_categories(d / "val_e2e" / "predictions.json", val_idx))
    m = evaluate(ValConfig(data=r.data, pred=str(ours), plots=False), d / "scored_e2e")
    return {k: m.get(k) for k in EVAL_KEYS}


def raw_parity(cli: str, last: Path, img: int, images: str, out: Path) -> dict:
    """Max |difference| of the raw box and class outputs, Ultralytics' (its own loader, in the yardstick
    environment: tools/yardstick/ultralytics_outputs.py) vs ours (the converted checkpoint), on real images."""
    import subprocess

    import torch

    from detector.checkpoint import load_checkpoint
    from detector.models import build_model

    ref_file = out / "ultralytics_raw.pt"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(Path(cli).parent / "python"), str(ROOT / "tools/yardstick/ultralytics_outputs.py"),
                    "--weights", str(last), "--img", str(img), "--images", images, "--n", "8", "--out", str(ref_file)],
                   check=True, stdout=subprocess.DEVNULL)
    ref = torch.load(ref_file, weights_only=True)
    ck = load_checkpoint(last)
    m = build_model(ck["model_cfg"])
    m.load_state_dict(ck["model"])
    with torch.no_grad():
        parts = m.eval().layers[-1].split_raw(m(ref["input"]))
    diffs = {}
    for branch, sfx in (("one2many", ""), ("one2one", "_o2o")):
        if branch in ref:
            diffs[branch] = max((parts["box" + sfx].transpose(1, 2) - ref[branch]["boxes"]).abs().max().item(),
                                (parts["cls" + sfx].transpose(1, 2) - ref[branch]["scores"]).abs().max().item())
    return diffs


def _ours(last: Path, a, nms: str, out: Path, rect_pad: float = 0.5) -> dict:
    """Our val of the same last.pt; ``rect_pad`` 0.5: Ultralytics' val padding (like for like), 0: ours."""
    m = evaluate(ValConfig(weights=str(last), data=a.data, img=a.img, batch=a.batch, nms=nms, iou_thres=IOU_THRES,
                           conf_thres=VAL_CONF, plots=False, rect_pad=rect_pad), out)
    return {k: m.get(k) for k in EVAL_KEYS}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--yolo", default=None, help="the Ultralytics CLI of a yardstick environment")
    ap.add_argument("--models", nargs="+", default=["yolo11n", "yolo26n"])
    ap.add_argument("--data", default="cfg/data/coco_val493.yaml")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--img", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--project", default="runs/bench_ultralytics")
    a = ap.parse_args(argv)
    cli = find_yolo_cli(a.yolo)
    if not cli:
        print("no Ultralytics CLI: pass --yolo PATH (a separate environment with ultralytics installed)")
        return 2
    recipe = Recipe(data=a.data, epochs=a.epochs, img=a.img, batch=a.batch)
    data_cfg = load_data_config(a.data)
    val_idx = index_split(data_cfg, "val")
    runner = PeerRunner(cli, Path(a.project), recipe, data_cfg)
    rows = []
    for model in a.models:
        t0 = time.time()
        theirs, train_s = runner.run(model, a.seed, val_idx)
        last = runner.run_dir(model, a.seed) / "train" / "weights" / "last.pt"
        images = str(Path(val_idx.records[0].path).parent)
        row = {"model": model, "train_s": round(train_s),
               "raw_max_abs_diff": raw_parity(cli, last, a.img, images, Path(a.project) / "ours" / model),
               "greedy": {"ultralytics": theirs,
                          "ours": _ours(last, a, "greedy", Path(a.project) / "ours" / model / "greedy"),
                          "ours_own_padding": _ours(last, a, "greedy", Path(a.project) / "ours" / model / "greedy0", 0.0)}}
        if model.startswith("yolo26"):
            row["nms_free"] = {"ultralytics": _theirs_nms_free(runner, model, a.seed, val_idx),
                               "ours": _ours(last, a, "none", Path(a.project) / "ours" / model / "none")}
        rows.append(row)
        print(f"{model}: raw outputs, max |ours - ultralytics| on 8 val images: {row['raw_max_abs_diff']}")
        for mode in ("greedy", "nms_free"):
            if mode in row:
                u, o = row[mode]["ultralytics"], row[mode]["ours"]
                print(f"{model} {mode}: mAP50-95 ultralytics {u['mAP50-95']:.4f} ours {o['mAP50-95']:.4f}  "
                      f"mAP50 {u['mAP50']:.4f} / {o['mAP50']:.4f}  ({time.time() - t0:.0f} s)", flush=True)
    write_json(Path(a.project) / "parity.json", {"command": " ".join(sys.argv), "rows": rows})
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
