#!/usr/bin/env python3
"""Print a model's layer table, parameter count and GFLOPs.

  python tools/model_info.py --cfg cfg/yolo_ca_bifpn.yaml [--scale s] [--nc 80] [--img 640] [--fuse]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector import ConfigError, build_model  # noqa: E402
from detector.models.summary import model_summary  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cfg", default="cfg/yolo_ca_bifpn.yaml", help="model YAML (a -n/-s/-m/-l name suffix picks the scale)")
    ap.add_argument("--scale", default=None, help="scale name from the YAML's scales (overrides suffix and scale: key)")
    ap.add_argument("--nc", type=int, default=None, help="number of classes (default: the YAML's nc)")
    ap.add_argument("--img", type=int, default=640, help="image size for the GFLOPs figure (0: skip)")
    ap.add_argument("--fuse", action="store_true", help="fold BatchNorm into convs first")
    args = ap.parse_args(argv)
    try:
        model = build_model(args.cfg, scale=args.scale, nc=args.nc)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.fuse:
        model.fuse()
    print(model_summary(model, imgsz=args.img or None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
