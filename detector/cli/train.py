"""Train a detector.

  detector-train --cfg cfg/yolo_ca_bifpn.yaml                      # embedded synthetic data, CPU ok
  detector-train --cfg cfg/yolo_ca_bifpn.yaml --data cfg/data/coco.yaml --epochs 300 --batch 64 --img 640 --device 0
  torchrun --nproc_per_node 4 tools/train.py --cfg cfg/yolo_ca_bifpn.yaml --data cfg/data/coco.yaml --batch 256 --device 0,1,2,3
  detector-train --resume runs/train/exp/weights/last.pt           # or --resume alone: the latest run
  detector-train --cfg cfg/yolo_ca_bifpn.yaml --teacher runs/train/big/weights/best.pt   # knowledge distillation
"""
from __future__ import annotations

import argparse
import sys

from detector.cli import run_job
from detector.train.callbacks import load_callback
from detector.utils.dist import check_device_arg
from detector.train.distill import CHOICES as DISTILL_CHOICES
from detector.train import TrainConfig, Trainer
from detector.train.trainer import BUILT_IN_DEFAULTS, with_defaults
from detector.ops.nms import nms_methods
from detector.utils.cli import fraction, non_negative_int, positive_int


def parse(argv=None) -> TrainConfig:
    d = TrainConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cfg", default=d.cfg, help="model YAML (name suffix -n/-s/-m/-l picks the scale)")
    ap.add_argument("--data", default=d.data, help="dataset YAML")
    ap.add_argument("--hyp", default=None, help="hyperparameter YAML (default: built-in defaults)")
    ap.add_argument("--scale", default=None, help="model scale (n, s, m, l); default: a -X suffix of --cfg, else the scale of --weights "
                         "when the YAML lists it, else the YAML's scale:")
    ap.add_argument("--epochs", type=positive_int, default=None, help=f"default: the data YAML's defaults, else {BUILT_IN_DEFAULTS['epochs']}")
    ap.add_argument("--batch", type=positive_int, default=None, help=f"total batch size, all GPUs (default: the data YAML's defaults, else {BUILT_IN_DEFAULTS['batch']})")
    ap.add_argument("--img", "--imgsz", type=positive_int, default=None, dest="img",
                    help=f"train/val image size in pixels (default: the data YAML's defaults, else {BUILT_IN_DEFAULTS['img']}; rounded up to the model's stride)")
    ap.add_argument("--device", default=d.device, help="cpu, 0, 0,1,2,3 (default: GPU 0 if available)")
    ap.add_argument("--workers", type=non_negative_int, default=d.workers, help="dataloader workers per process")
    ap.add_argument("--weights", default=None, help="initialise from a local checkpoint (fine-tuning)")
    ap.add_argument("--resume", nargs="?", const="last", default=None, help="resume a run: path to last.pt, or the latest")
    ap.add_argument("--project", default=d.project)
    ap.add_argument("--name", default=d.name)
    ap.add_argument("--exist-ok", action="store_true", help="reuse project/name instead of incrementing")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--deterministic", action="store_true", help="deterministic algorithms (slower)")
    ap.add_argument("--patience", type=positive_int, default=d.patience, help="early stop when a validation finds N epochs without improvement (only validated epochs can stop a run)")
    ap.add_argument("--save-period", type=int, default=d.save_period, help="also save every N epochs")
    ap.add_argument("--cache", nargs="?", const="ram", default=d.cache, choices=["auto", "ram", "none"],
                    help="decoded images in RAM: auto (default: when they take < 2 GiB and < 10%% of free RAM), "
                         "ram (--cache alone: whenever they fit in half the free RAM), none")
    ap.add_argument("--freeze", type=non_negative_int, default=d.freeze, metavar="N",
                    help="freeze the first N layers (fine-tuning from --weights; Ultralytics' freeze)")
    ap.add_argument("--fraction", type=fraction, default=d.fraction,
                    help="train on this share of the train split's images, the first ones (Ultralytics' fraction)")
    ap.add_argument("--optimizer", choices=["SGD", "AdamW"], default=d.optimizer)
    ap.add_argument("--cos-lr", action="store_true", help="cosine LR schedule (default linear)")
    ap.add_argument("--close-mosaic", type=int, default=None, help="disable mosaic for the last N epochs")
    ap.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under DDP")
    ap.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True, help="mixed precision on CUDA")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=d.channels_last,
                    help="NHWC memory format for the model and batches (faster convolutions on CPU and CUDA)")
    ap.add_argument("--val-period", type=positive_int, default=d.val_period, help="validate every N epochs")
    ap.add_argument("--val-slice", type=positive_int, default=d.val_slice, metavar="PX",
                    help="validate with sliced inference in PX-pixel tiles (as val.py --slice): best.pt and early "
                         "stopping follow it; for small objects in large images, e.g. trained on slice_dataset.py tiles")
    ap.add_argument("--val-slice-img", type=positive_int, default=d.val_slice_img, metavar="PX",
                    help="with --val-slice, the network input of a tile (default: the tile's own size)")
    ap.add_argument("--nms", choices=nms_methods(), default=None,
                    help="NMS for validation (default: the model YAML's, else adaptive_soft)")
    ap.add_argument("--strict-labels", action="store_true", help="refuse to train when any label is rejected")
    ap.add_argument("--no-plots", dest="plots", action="store_false")
    ap.add_argument("--callbacks", nargs="+", default=[], metavar="MODULE:CLASS",
                    help="extra training callbacks, e.g. my_logs:JsonLines (importable module; see docs/extending.md, Callbacks)")
    _add_distill_flags(ap, d)
    ap.add_argument("--max-batches", type=int, default=None, help=argparse.SUPPRESS)
    args = vars(ap.parse_args(argv))
    check_device_arg(ap, args["device"])
    for spec in args["callbacks"]:  # a typo is a usage error now, not a failure after the data is indexed
        try:
            load_callback(spec)
        except ValueError as e:
            ap.error(str(e))
    if args["resume"]:
        ignored = [f"--{k.replace('_', '-')}" for k, v in args.items()
                   if k not in ("resume", "device", "workers", "callbacks") and v is not None and v != ap.get_default(k)]
        if ignored:
            print(f"note: --resume continues the run with its saved settings; ignoring {' '.join(ignored)}",
                  file=sys.stderr)
        return TrainConfig(**args)
    # unset epochs/img/batch: the data YAML's defaults, then the built-in ones (as Trainer does for Python users)
    return with_defaults(TrainConfig(**args))


def _add_distill_flags(ap: argparse.ArgumentParser, d: TrainConfig) -> None:
    kd = ap.add_argument_group("knowledge distillation (detector/train/distill.py)")
    kd.add_argument("--teacher", default=None, metavar="T.pt",
                    help="distil from this frozen model: a checkpoint of ours (any scale or YAML) or a YOLOv8 .pt")
    kd.add_argument("--distill", choices=DISTILL_CHOICES, default=d.distill,
                    help="what to match: neck features (1x1 projectors), logit (the head's class scores and box "
                         "distributions; same classes, reg_max and strides needed), or both; auto (default): logit "
                         "when the heads match, else feature")
    kd.add_argument("--distill-loss", choices=["pkd", "cwd"], default=d.distill_loss,
                    help="feature term: Pearson-normalised MSE (pkd, default) or channel-wise KL (cwd)")
    kd.add_argument("--distill-gain", type=float, default=d.distill_gain,
                    help="multiplies every distillation gain (hyp distill_feature / distill_cls / distill_box)")


def main(argv=None) -> int:
    run: dict = {}

    def job():
        run["trainer"] = Trainer(parse(argv))
        run["trainer"].train()

    return run_job(job, lambda: run["trainer"].where_stopped() if "trainer" in run else
                   "stopped while starting, nothing trained; run the same command again")


if __name__ == "__main__":
    sys.exit(main())
