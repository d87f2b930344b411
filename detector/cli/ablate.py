"""Ablation: train every (model YAML, seed) with one recipe, evaluate each run with every NMS method,
measure costs, optionally train Ultralytics peers the same way, and write ablation.csv / .md / .png.

  detector-ablate --cfgs cfg/yolo_base.yaml cfg/yolo_ca.yaml cfg/yolo_bifpn.yaml cfg/yolo_ca_bifpn.yaml \\
      --data cfg/data/synthetic.yaml --epochs 20 --img 320 --batch 16 --seeds 0 1 2 \\
      --nms greedy adaptive soft diou --peers yolov8n yolo11n --yolo /tmp/yardstick/bin/yolo \\
      --project runs/ablate --name synth
Rerun the same command to resume: finished runs are skipped, a killed run resumes from its last.pt.

Compare projects run with different recipes (e.g. another --hyp), paired by model and seed:
  detector-ablate --compare runs/ablate/synth runs/ablate/synth_ciou [--metric mAP50-95] [--out compare.md]
"""
from __future__ import annotations

import argparse
import sys

from detector.ablation import AblationConfig, Recipe, run_ablation
from detector.cli import run_job
from detector.train.distill import CHOICES as DISTILL_CHOICES
from detector.ops.nms import nms_methods
from detector.utils.cli import non_negative_int, positive_int


def parse(argv=None) -> AblationConfig | argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cfgs", nargs="+", help="model YAMLs; the first is the reference for the deltas")
    ap.add_argument("--compare", nargs="+", metavar="PROJECT",
                    help="compare finished ablation projects (project/name folders), paired by model and seed; "
                         "the first is the reference; trains nothing")
    ap.add_argument("--metric", default="mAP50-95",
                    help="--compare: the metric (mAP50-95, mAP50, crowded_recall50, ...)")
    ap.add_argument("--out", default=None, help="--compare: also write the table to this Markdown file")
    ap.add_argument("--data", default="cfg/data/synthetic.yaml")
    ap.add_argument("--epochs", type=positive_int, default=20)
    ap.add_argument("--img", "--imgsz", dest="img", type=positive_int, default=320)
    ap.add_argument("--batch", type=positive_int, default=16)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--nms", nargs="+", choices=nms_methods(), default=None,
                    help="NMS methods to evaluate each run with (the first one fills the main table; default "
                         "greedy); with --compare: the method whose scores are compared")
    ap.add_argument("--nms-iou", nargs="+", type=float, default=[],
                    help="evaluate each NMS method at each of these IoU thresholds (a sweep, e.g. 0.5 0.6 0.7 0.8: "
                         "columns greedy@0.6:...; the crowd table compares each method at its best threshold)")
    _add_start_flags(ap)
    ap.add_argument("--val-period", type=positive_int, default=None,
                    help="validate every N epochs while training (default: only after the last epoch)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--peers", nargs="*", default=[], help="Ultralytics models to train alike, e.g. yolov8n yolo11n")
    ap.add_argument("--peer-weights", nargs="*", default=[], metavar="NAME=PATH",
                    help="a peer fine-tunes from this Ultralytics checkpoint through its CLI (model=PATH, its default "
                         "optimizer=auto as users run it) instead of training from its YAML, e.g. yolo11n=src.pt")
    ap.add_argument("--yolo", default=None, help="the Ultralytics CLI (default: $DETECTOR_YOLO_CLI, else yolo on PATH)")
    ap.add_argument("--latency-runs", type=positive_int, default=20)
    ap.add_argument("--project", default="runs/ablate")
    ap.add_argument("--name", default="exp")
    ap.add_argument("--report-only", action="store_true",
                    help="write the tables from the finished runs and train nothing (safe while another ablate runs)")
    ap.add_argument("--rescore", action="store_true",
                    help="evaluate every finished run again (ours from its weights, peers from their saved "
                         "predictions), e.g. after an evaluator fix, and rewrite the tables; trains nothing")
    ap.add_argument("--max-batches", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.compare:
        if a.cfgs:
            ap.error("--compare reads finished projects: give it without --cfgs")
        if len(a.compare) < 2:
            ap.error("--compare needs at least two projects")
        return a
    if not a.cfgs:
        ap.error("the following arguments are required: --cfgs (or --compare PROJECT PROJECT ...)")
    if len(set(a.seeds)) != len(a.seeds):
        ap.error(f"--seeds repeat: {a.seeds}")
    peer_weights = {}
    for item in a.peer_weights:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            ap.error(f"--peer-weights takes NAME=PATH (e.g. yolo11n=src/yolo11n.pt), got {item!r}")
        if name not in a.peers:
            ap.error(f"--peer-weights names {name!r}, which is not one of --peers {a.peers}")
        peer_weights[name] = path
    recipe = Recipe(a.data, a.epochs, a.img, a.batch, a.workers, a.hyp, a.val_period, a.device, a.weights,
                    a.teacher, a.distill, a.distill_loss, a.distill_gain, peer_weights, a.optimizer, a.freeze)
    nms = list(dict.fromkeys(a.nms or ["greedy"]))
    bad = [v for v in a.nms_iou if not 0.0 < v < 1.0]
    if bad:
        ap.error(f"--nms-iou values must be in (0, 1), got {bad}")
    return AblationConfig(a.cfgs, a.seeds, recipe, nms, list(dict.fromkeys(a.nms_iou)), a.project, a.name, a.peers,
                          a.yolo, a.latency_runs, a.max_batches, a.report_only or a.rescore, a.rescore)


def _add_start_flags(ap: argparse.ArgumentParser) -> None:
    """How every cfg starts and learns: hyperparameters, pretrained weights, a teacher."""
    ap.add_argument("--hyp", default=None, help="our hyperparameter YAML for every cfg")
    ap.add_argument("--weights", default=None,
                    help="pretrained start for every cfg (ours or a converted/raw YOLOv8 .pt; layers matched by "
                         "structure, the rest starts fresh); default: from scratch")
    ap.add_argument("--optimizer", choices=["SGD", "AdamW"], default=Recipe.optimizer,
                    help="our optimizer for every cfg (its lr0 and momentum from --hyp); peers keep their own")
    ap.add_argument("--freeze", type=non_negative_int, default=Recipe.freeze, metavar="N",
                    help="freeze the first N layers of every cfg (with --weights: a fine-tuning recipe)")
    ap.add_argument("--teacher", default=None, metavar="T.pt",
                    help="distil every cfg from this frozen checkpoint (ours or a YOLOv8 .pt; see tools/train.py)")
    ap.add_argument("--distill", choices=DISTILL_CHOICES, default=Recipe.distill)
    ap.add_argument("--distill-loss", choices=["pkd", "cwd"], default=Recipe.distill_loss)
    ap.add_argument("--distill-gain", type=float, default=Recipe.distill_gain)


def main(argv=None) -> int:
    cfg = parse(argv)
    if isinstance(cfg, argparse.Namespace):
        return run_job(lambda: _compare(cfg), "")
    return run_job(lambda: run_ablation(cfg), "rerun the same command to resume")


def _compare(a: argparse.Namespace) -> None:
    from detector.ablation.compare import compare
    from detector.utils.io import write_text

    md = compare(a.compare, a.metric, a.nms[0] if a.nms else None)
    print(md, end="")
    if a.out:
        write_text(a.out, md)
        print(f"written {a.out}")


if __name__ == "__main__":
    sys.exit(main())
