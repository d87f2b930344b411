"""Export a checkpoint (box decoding inside the graph; NMS inside too with --nms-in-graph) and check the
result against PyTorch on an image.

  detector-export --weights best.pt --format onnx --img 640 [--dynamic] [--half]
  detector-export --weights best.pt --format openvino [--int8 --data cfg/data/coco128.yaml]
  detector-export --weights best.pt --nms-in-graph adaptive --conf 0.25 --iou 0.7
  python tools/detect.py --weights best.onnx --source images/          # or best_openvino_model/
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from detector.data.synthetic import make_image
from detector.checkpoint import CheckpointError, checkpoint_stride
from detector.utils.dist import check_device_arg
from detector.export import ExportJob, export_model, format_names, get_format
from detector.export.check import compare_export
from detector.export.exporter import MAX_CANDIDATES
from detector.export.graph_nms import GRAPH_NMS
from detector.ops.nms import IOU_THRES, MAX_DET, PREDICT_CONF
from detector.utils.cli import positive_int, round_img
from detector.utils.io import describe_os_error


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--format", default="onnx", choices=format_names())
    ap.add_argument("--img", "--imgsz", type=positive_int, default=640, dest="img")
    ap.add_argument("--dynamic", action="store_true", help="dynamic batch and image size")
    ap.add_argument("--half", action="store_true", help="FP16 (ONNX: export on CUDA, --device 0; OpenVINO: FP16 IR)")
    ap.add_argument("--int8", action="store_true", help="INT8 post-training quantization (onnx: ONNX Runtime QDQ; "
                                                        "openvino: NNCF; needs --data)")
    ap.add_argument("--data", default=None, help="data YAML whose images calibrate --int8")
    ap.add_argument("--calib-split", default="train", help="split of --data used for calibration (default train)")
    ap.add_argument("--calib-images", type=positive_int, default=300, help="calibration images (default 300)")
    ap.add_argument("--nms-in-graph", choices=GRAPH_NMS.names(), default=None,
                    help="put NMS inside the graph: outputs dets [B, max_det, 7] and num [B]")
    ap.add_argument("--conf", "--conf-thres", type=float, default=PREDICT_CONF, dest="conf",
                    help=f"in-graph NMS: confidence threshold (default {PREDICT_CONF})")
    ap.add_argument("--iou", "--iou-thres", type=float, default=IOU_THRES, dest="iou",
                    help=f"in-graph NMS: IoU threshold (default {IOU_THRES})")
    ap.add_argument("--max-det", type=positive_int, default=MAX_DET, help=f"in-graph NMS: detections kept (default {MAX_DET})")
    ap.add_argument("--max-candidates", type=positive_int, default=MAX_CANDIDATES,
                    help="in-graph adaptive NMS: boxes above --conf it holds (pairwise work; default "
                         f"{MAX_CANDIDATES})")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--opset", type=positive_int, default=17)
    ap.add_argument("--image", default=None, help="real image for the export-vs-PyTorch check "
                                                  "(default: a generated synthetic scene)")
    ap.add_argument("--output", default=None, help="output path (default: beside the weights, e.g. best.onnx, "
                                                   "best_openvino_model/)")
    ap.add_argument("--exist-ok", action="store_true", help="overwrite an existing output")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    check_device_arg(ap, a.device)
    if not 0 <= a.conf < 1 or not 0 < a.iou <= 1:
        ap.error(f"--conf must be in [0, 1) and --iou in (0, 1], got {a.conf} and {a.iou}")
    job = ExportJob(a.weights, a.format, a.img, a.dynamic, a.half, a.device, a.opset, a.output, a.nms_in_graph,
                    a.conf, a.iou, a.max_det, a.max_candidates, a.int8, a.data, a.calib_split, a.calib_images)
    fmt = get_format(a.format)
    target = fmt.output_path(job)
    if target.exists() and not a.exist_ok:
        ap.error(f"{target} exists; pass --exist-ok to overwrite it")
    if a.image and not Path(a.image).is_file():
        ap.error(f"--image {a.image}: no such file")
    if a.int8 and not fmt.int8:
        ap.error(f"--int8 is offered for {[n for n in format_names() if get_format(n).int8]}, not {a.format}")
    if a.int8 and not a.data:
        ap.error("--int8 needs --data (a data YAML whose images calibrate the quantization)")
    try:
        a.img = round_img(a.img, checkpoint_stride(a.weights))  # to the model's largest stride, with a warning
        job = dataclasses.replace(job, img=a.img)
        out = export_model(job)
        if a.image:
            image = a.image
        else:
            image = make_image(np.random.default_rng(0), a.img, crowded=True)[0]
        check = compare_export(a.weights, out, image, a.img)
    except ImportError as e:
        print(f"error: the {a.format} format needs {fmt.extra}: pip install {fmt.extra} ({e})", file=sys.stderr)
        return 2
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output folder that is read-only, a full disk, an unreadable --image
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in ([out] if out.is_file() else out.rglob("*")) if f.is_file())
    what = f"on {a.image or 'a synthetic image'}"
    line = f"exported {out} ({size / 1e6:.1f} MB); {check['runtime']} vs PyTorch"
    if "detections" in check:
        n_graph, n_ours = check["detections"]
        line += (f": {n_graph} detections from the in-graph {a.nms_in_graph} NMS, {n_ours} from ours ({check['same']} "
                 f"the same; {check['ties']} differ by the order of near-tied scores; {check['other']} other "
                 "differences)")
    line += f", max abs difference {check['max_abs_diff']:.2e}"
    line += f" (over the same ones) {what}" if "detections" in check else f" {what}"
    if a.int8:
        line += " (INT8: differences are expected; measure accuracy with tools/val.py)"
    print(line)
    print(f"run it: python tools/detect.py --weights {out} --source IMAGE_OR_FOLDER --img {a.img}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
