"""Run a trained detector on images, folders, globs, .txt lists, videos or a webcam.

  detector-detect --weights runs/train/exp/weights/best.pt --source images/ --img 640 --conf-thres 0.25
  detector-detect --weights best.onnx --source video.mp4 --nms adaptive
  detector-detect --weights best.pt --source video.mp4 --track bytetrack     # ids, trails, MOT txt, counts
Exit status: 0 ok, 1 some inputs were skipped (listed; a truncated video counts), 2 the source or weights are
unusable or nothing at all could be read.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.config import ConfigError
from detector.checkpoint import CheckpointError
from detector.predict.detect_sources import DetectOptions, run_detect, summary
from detector.utils.dist import check_device_arg
from detector.predict import Detector
from detector.predict.sources import SourceError, resolve
from detector.predict.tracking import load_tracker_config
from detector.ops.nms import IOU_THRES, MAX_DET, PREDICT_CONF, nms_methods
from detector.utils.cli import positive_int, unit_float
from detector.utils.io import describe_os_error, increment_path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="checkpoint .pt or exported .onnx")
    ap.add_argument("--source", required=True, help="image, folder, glob, .txt list, video, or webcam index")
    ap.add_argument("--img", "--imgsz", type=positive_int, default=640, dest="img", help="long side of the network input")
    ap.add_argument("--rect", action=argparse.BooleanOptionalAction, default=None,
                    help="pad each batch only to a multiple of the stride (640x480 frames run at 640x480); "
                         "--no-rect pads to img x img. Default: rect on CPU, square on CUDA (each new shape "
                         "costs CUDA a kernel re-plan). Static ONNX models are always square")
    ap.add_argument("--conf-thres", "--conf", type=unit_float, default=None,
                    help=f"default {PREDICT_CONF}; with --track the tracker's track_low_thresh (0.1)")
    ap.add_argument("--iou-thres", type=unit_float, default=IOU_THRES)
    ap.add_argument("--nms", choices=nms_methods(), default=None,
                    help="default: the model's (its YAML's nms key); with --track the tracker YAML's nms, if it names one")
    ap.add_argument("--max-det", type=positive_int, default=MAX_DET)
    ap.add_argument("--classes", type=int, nargs="+", default=None, help="keep only these class ids")
    ap.add_argument("--agnostic-nms", action="store_true")
    ap.add_argument("--device", default="")
    ap.add_argument("--half", action="store_true", help="FP16 (CUDA)")
    ap.add_argument("--batch", type=positive_int, default=1, help="images per forward pass")
    ap.add_argument("--save-txt", action="store_true", help="YOLO txt per image (labels/)")
    ap.add_argument("--save-conf", action="store_true", help="confidence as 6th column of --save-txt")
    ap.add_argument("--save-json", action="store_true", help="COCO results json (original pixels)")
    ap.add_argument("--save-crop", action="store_true")
    ap.add_argument("--nosave", action="store_true", help="do not save annotated images/videos")
    ap.add_argument("--line-width", type=int, default=None)
    ap.add_argument("--hide-labels", action="store_true")
    ap.add_argument("--hide-conf", action="store_true")
    ap.add_argument("--show-density", action="store_true",
                    help="colour boxes by predicted crowd density (blue isolated -> red crowded; what adaptive NMS "
                         "reads) and print it in the label")
    ap.add_argument("--slice", type=positive_int, default=None, metavar="PX",
                    help="sliced inference for small objects: tiles of PX pixels (e.g. 640), merged by the NMS")
    ap.add_argument("--slice-overlap", type=unit_float, default=0.2, help="share of a tile its neighbour shares")
    ap.add_argument("--slice-full", action=argparse.BooleanOptionalAction, default=True,
                    help="with --slice, also run the whole image (large objects; default on)")
    ap.add_argument("--slice-img", type=positive_int, default=None, metavar="PX",
                    help="with --slice, the network input size of each tile (default: the tile's own size, "
                         "i.e. native resolution; as SAHI's image_size)")
    ap.add_argument("--track", nargs="?", const="bytetrack", default=None, metavar="TRACKER",
                    help="track objects across the frames of a video or a folder of frames: bytetrack (the "
                         "default), botsort, ocsort, sort, or a tracker YAML (cfg/trackers/); writes tracks/<seq>.txt "
                         "(MOTChallenge), ids and trails on the video, track_id in --save-json, counts per class")
    ap.add_argument("--count-line", type=float, nargs=4, default=None, metavar=("X1", "Y1", "X2", "Y2"),
                    help="with --track: count tracks whose centre crosses this segment (pixels), in and out by "
                         "direction, per class (tracks/counts.json, drawn on the video)")
    ap.add_argument("--project", default="runs/detect")
    ap.add_argument("--name", default="exp")
    ap.add_argument("--exist-ok", action="store_true", help="write into an existing folder (may overwrite)")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    check_device_arg(ap, a.device)
    try:
        resolve(a.source)  # fail fast on a missing source
        track = load_tracker_config(a.track) if a.track else None
        if a.count_line and track is None:
            raise ValueError("--count-line counts tracks: add --track")
        det = Detector(a.weights, a.device, a.img, a.conf_thres, a.iou_thres, a.nms, a.max_det, a.classes, a.half,
                       a.agnostic_nms, a.rect, a.slice, a.slice_overlap, a.slice_full, a.slice_img)
        if track is not None and (note := det.use_tracker_settings(track)):
            print(note, file=sys.stderr)
        bad = sorted({c for c in a.classes or [] if not 0 <= c < len(det.names)})
        if bad:
            raise ValueError(f"--classes {bad}: {a.weights} has classes 0..{len(det.names) - 1} ({len(det.names)} names)")
        cat_ids = det.cat_ids
        save_dir = increment_path(Path(a.project) / a.name, a.exist_ok)
        opt = DetectOptions(not a.nosave, a.save_txt, a.save_conf, a.save_json, a.save_crop, a.line_width,
                            a.hide_labels, a.hide_conf, max(a.batch, 1), cat_ids, a.show_density, track,
                            tuple(a.count_line) if a.count_line else None)
        rep = run_detect(det, a.source, save_dir, opt)
    except (SourceError, CheckpointError, ConfigError, FileNotFoundError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a read-only --project, a full disk
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 2
    print(summary(det, rep, save_dir))
    if rep.images == 0 and rep.frames == 0:  # nothing could run at all: unusable input, not a partial run
        print(f"error: {a.source}: no image or video frame could be read (see the skipped inputs above)",
              file=sys.stderr)
        return 2
    return 1 if rep.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
