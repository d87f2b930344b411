#!/usr/bin/env python3
"""Write the embedded synthetic dataset (COCO json) and/or a short demo video.

  python tools/make_synthetic.py --out datasets/synthetic [--seed 0 --train 400 --val 100 --size 256]
  python tools/make_synthetic.py --video runs/demo/clip.mp4
The same generator is importable: ``from detector.data.synthetic import generate, make_video``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.data.synthetic import generate, make_video  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="dataset folder to (re)write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--val", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--video", default=None, help="also write a demo video here")
    a = ap.parse_args(argv)
    if not a.out and not a.video:
        ap.error("give --out and/or --video")
    if a.out:
        print(f"dataset: {generate(a.out, a.seed, a.train, a.val, a.size)}")
    if a.video:
        print(f"video: {make_video(a.video, a.seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
