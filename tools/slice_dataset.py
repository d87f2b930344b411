#!/usr/bin/env python3
"""Cut a dataset's images into the overlapping tiles sliced inference runs on (SAHI's "slice_coco"), for
training a small-object model at the scale it will be run at. Writes a YOLO-txt dataset and its data YAML.

  python tools/slice_dataset.py --data cfg/data/mydata.yaml --out datasets/mydata_640 --size 640 --overlap 0.2
  python tools/train.py --data datasets/mydata_640/data.yaml --img 640 ...     # trains on the tiles
  python tools/val.py --data datasets/mydata_640/data.yaml --weights best.pt --slice 640   # whole val images

Only --splits are cut (default: train); the others are referred to in place, so validation stays on the
whole images. Boxes whose part inside a tile is under --min-visible of their area are left out of that tile
and counted; --keep-empty thins out tiles without boxes; --full also keeps each whole image.
How: detector/data/tiling.py.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.config import ConfigError  # noqa: E402
from detector.data.build import index_split  # noqa: E402
from detector.data.config import load_data_config  # noqa: E402
from detector.data.tiling import slice_split, write_data_yaml  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="data YAML of the dataset to cut")
    ap.add_argument("--out", required=True, help="folder for images/, labels/ and data.yaml")
    ap.add_argument("--splits", nargs="+", default=["train"], help="splits to cut (default: train)")
    ap.add_argument("--size", type=int, default=640, help="tile side in pixels (as --slice at inference)")
    ap.add_argument("--overlap", type=float, default=0.2, help="share of a tile its neighbour shares")
    ap.add_argument("--min-visible", type=float, default=0.1,
                    help="keep a box in a tile when at least this share of its area is inside (SAHI: 0.1)")
    ap.add_argument("--keep-empty", type=float, default=1.0, help="share of tiles without boxes to keep")
    ap.add_argument("--full", action="store_true", help="also keep each whole image (full image + slices)")
    ap.add_argument("--seed", type=int, default=0, help="which empty tiles --keep-empty keeps")
    a = ap.parse_args(argv)
    try:
        cfg = load_data_config(a.data)
        stats, names = {}, None
        for split in a.splits:
            idx = index_split(cfg, split)
            names = names or idx.names
            stats[split] = slice_split(idx, a.out, split, a.size, a.overlap, a.min_visible, a.keep_empty, a.full,
                                       a.seed)
    except (ConfigError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    note = f"--size {a.size} --overlap {a.overlap} --min-visible {a.min_visible} --keep-empty {a.keep_empty}" + (
        " --full" if a.full else "")
    y = write_data_yaml(cfg, a.out, stats, names, note)
    for split, st in stats.items():
        bad = st.pop("unreadable")
        print(f"{split}: " + json.dumps(st))
        for msg in bad:
            print(f"  unreadable, left out: {msg}")
    print(f"sliced dataset: {y}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
