#!/usr/bin/env python3
"""Build the crowded-person task (COCO json) from real COCO person instances and real backgrounds.

  python tools/make_crowds.py                         # datasets/crowd_person from ../shared/data (the data YAML's)
  python tools/make_crowds.py --out datasets/crowd_person --source ../shared/data --seed 0 --train 400 --val 200
Train people/backgrounds come from coco_val493, val from coco128 (disjoint). Deterministic from --seed.
cfg/data/crowd_person.yaml builds the same task on first use; how it is built: detector/data/crowds.py.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.data.crowds import DEFAULTS, build  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "datasets" / "crowd_person"))
    ap.add_argument("--source", default=str(ROOT.parent / "shared" / "data"),
                    help="folder holding coco_val493/ and coco128/")
    for k in ("seed", "train", "val", "size"):
        ap.add_argument(f"--{k}", type=int, default=DEFAULTS[k])
    ap.add_argument("--near", type=float, default=DEFAULTS["near"],
                    help="probability that a person is put beside another at box IoU 0.5-0.8")
    ap.add_argument("--people", type=int, nargs=2, default=DEFAULTS["people"], metavar=("MIN", "MAX"))
    ap.add_argument("--min-visible", type=float, default=DEFAULTS["min_visible"])
    a = ap.parse_args(argv)
    try:
        stats = build(a.out, a.source, seed=a.seed, train=a.train, val=a.val, size=a.size, near=a.near,
                      people=a.people, min_visible=a.min_visible)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in stats.items() if k != "options"}, indent=1))
    print(f"crowd task in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
