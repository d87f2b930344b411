"""Export a checkpoint to ONNX (box decoding inside, NMS outside) and check it against PyTorch.

  detector-export --weights runs/train/exp/weights/best.pt --format onnx --img 640 [--dynamic] [--half]
  python tools/detect.py --weights runs/train/exp/weights/best.onnx --source images/
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.engine.checkpoint import CheckpointError
from detector.utils.io import describe_os_error
from detector.engine.dist import check_device_arg
from detector.engine.export import compare_onnx, export_onnx
from detector.utils.cli import positive_int, round_img


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--format", default="onnx", choices=["onnx"])
    ap.add_argument("--img", "--imgsz", type=positive_int, default=640, dest="img")
    ap.add_argument("--dynamic", action="store_true", help="dynamic batch and image size")
    ap.add_argument("--half", action="store_true", help="FP16 graph (export on CUDA: --device 0)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--opset", type=positive_int, default=17)
    ap.add_argument("--image", default=None, help="real image for the onnxruntime-vs-PyTorch check "
                                                  "(default: a generated synthetic scene)")
    ap.add_argument("--output", default=None, help="output path (default: weights with .onnx)")
    ap.add_argument("--exist-ok", action="store_true", help="overwrite an existing output file")
    a = ap.parse_args(argv)
    check_device_arg(ap, a.device)
    a.img = round_img(a.img)
    target = Path(a.output) if a.output else Path(a.weights).with_suffix(".onnx")
    if target.exists() and not a.exist_ok:
        ap.error(f"{target} exists; pass --exist-ok to overwrite it")
    if a.image and not Path(a.image).is_file():
        ap.error(f"--image {a.image}: no such file")
    try:
        out = export_onnx(a.weights, a.img, a.dynamic, a.half, a.output, a.opset, a.device)
        if a.image:
            image = a.image
        else:
            import numpy as np

            from detector.data.synthetic import make_image

            image = make_image(np.random.default_rng(0), a.img, crowded=True)[0]
        diff = compare_onnx(a.weights, out, image, a.img)
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output folder that is read-only, a full disk, an unreadable --image
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 2
    print(f"exported {out} ({out.stat().st_size / 1e6:.1f} MB); onnx.checker ok; "
          f"onnxruntime vs PyTorch max abs difference {diff:.2e} on {a.image or 'a synthetic image'}")
    print(f"run it: python tools/detect.py --weights {out} --source IMAGE_OR_FOLDER --img {a.img}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
