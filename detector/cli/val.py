"""Evaluate a checkpoint with COCO metrics (pycocotools), or score an existing predictions json.

  detector-val --weights runs/train/exp/weights/best.pt --data cfg/data/coco.yaml --img 640 --batch 32
  detector-val --pred predictions.json --data cfg/data/coco128.yaml --split val
Writes predictions.json, metrics.json, PR_curve.png and confusion_matrix.png to runs/val/exp*.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.config import ConfigError
from detector.checkpoint import CheckpointError
from detector.utils.dist import check_device_arg
from detector.eval.val_job import ValConfig, evaluate, format_table
from detector.metrics.coco_eval import BACKENDS
from detector.ops.nms import nms_methods
from detector.utils.cli import non_negative_int, positive_int, unit_float
from detector.utils.io import describe_os_error, increment_path


def main(argv=None) -> int:
    d = ValConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="checkpoint (.pt) or exported model (.onnx, *_openvino_model/)")
    ap.add_argument("--pred", default=None, help="score this COCO results json instead of running a model")
    ap.add_argument("--cat-offset", type=int, default=0,
                    help="--pred: add this to every category id of the file (e.g. -1 for 1-based ids on 0-based data)")
    ap.add_argument("--cat-map", choices=["coco80", "coco80-1"], default=None,
                    help="--pred: the file's category ids are indices of the 80 COCO classes (0-based, or 1-based "
                         "with coco80-1), mapped to COCO's ids 1..90")
    ap.add_argument("--data", default=d.data)
    ap.add_argument("--split", default=d.split, choices=["train", "val", "test"])
    ap.add_argument("--img", "--imgsz", type=positive_int, default=d.img, dest="img")
    ap.add_argument("--batch", type=positive_int, default=d.batch)
    ap.add_argument("--device", default=d.device)
    ap.add_argument("--workers", type=non_negative_int, default=d.workers)
    ap.add_argument("--conf-thres", type=unit_float, default=d.conf_thres)
    ap.add_argument("--iou-thres", type=unit_float, default=d.iou_thres)
    ap.add_argument("--nms", choices=nms_methods(), default=None)
    ap.add_argument("--max-det", type=positive_int, default=d.max_det)
    ap.add_argument("--save-json", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--half", action="store_true", help="FP16 inference (CUDA)")
    ap.add_argument("--no-rect", dest="rect", action="store_false", help="square batches instead of rectangular")
    ap.add_argument("--rect-pad", type=float, default=d.rect_pad, metavar="STRIDES",
                    help="extra border of each rectangular batch, in strides; Ultralytics' val pads 0.5 (a 640 px "
                         "image runs at 672): use it to compare mAP with its val like for like")
    ap.add_argument("--no-plots", dest="plots", action="store_false")
    ap.add_argument("--coco-backend", choices=list(BACKENDS), default=d.coco_backend,
                    help="auto (default: faster-coco-eval when installed, else pycocotools), pycocotools, or "
                         "faster: the same numbers, faster on large sets")
    ap.add_argument("--slice", type=positive_int, default=None, metavar="PX",
                    help="sliced inference: tiles of PX pixels, merged by the NMS (small objects in large images)")
    ap.add_argument("--slice-overlap", type=unit_float, default=d.slice_overlap)
    ap.add_argument("--slice-full", action=argparse.BooleanOptionalAction, default=d.slice_full,
                    help="with --slice, also run the whole image (default on)")
    ap.add_argument("--slice-img", type=positive_int, default=d.slice_img, metavar="PX",
                    help="with --slice, the network input size of each tile (default: the tile's own size)")
    ap.add_argument("--project", default="runs/val")
    ap.add_argument("--name", default="exp")
    ap.add_argument("--exist-ok", action="store_true")
    args = vars(ap.parse_args(argv))
    if not args["pred"]:
        check_device_arg(ap, args["device"])
    save_dir = increment_path(Path(args.pop("project")) / args.pop("name"), args.pop("exist_ok"))
    try:
        m = evaluate(ValConfig(**args), save_dir)
    except (ConfigError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a read-only --project, a full disk
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 2
    print(format_table(m))
    print(f"results in {save_dir}")
    if m.get("skipped"):
        print(f"{len(m['skipped'])} image(s) skipped, left out of the metrics:", file=sys.stderr)
        for path, reason in m["skipped"]:
            print(f"  {path}: {reason}", file=sys.stderr)
        return 1
    if m.get("rows_rejected") or m.get("rows_unknown_image"):  # --pred rows left out: named in the note
        print(f"some rows of {args['pred']} were left out: {m.get('note')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
