#!/usr/bin/env python3
"""Build the tracking task (MOTChallenge layout, ground truth ids) from real COCO people walking over real
person-free COCO backgrounds: crossings, people passing behind each other, entering and leaving.

  python tools/make_tracks.py                                  # datasets/people_tracks from ../shared/data
  python tools/make_tracks.py --out datasets/people_tracks --sequences 2 --frames 150 --people 10 30 --seed 0
Then: python tools/detect.py --weights W --source datasets/people_tracks/PEOPLE-01/img1 --track
      python tools/val_track.py --gt datasets/people_tracks --pred runs/detect/exp/tracks
How it is built: detector/data/tracks.py. Deterministic from --seed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.data.tracks import DEFAULTS, build  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "datasets" / "people_tracks"))
    ap.add_argument("--source", default=str(ROOT.parent / "shared" / "data"), help="folder holding coco128/")
    for k in ("seed", "sequences", "frames", "width", "height", "fps"):
        ap.add_argument(f"--{k}", type=int, default=DEFAULTS[k])
    ap.add_argument("--people", type=int, nargs=2, default=DEFAULTS["people"], metavar=("MIN", "MAX"),
                    help="people on screen a sequence aims at (drawn per sequence)")
    ap.add_argument("--min-visible", type=float, default=DEFAULTS["min_visible"],
                    help="below this visible share a person is an ignore region (MOTChallenge distractor)")
    a = ap.parse_args(argv)
    try:
        stats = build(a.out, a.source, seed=a.seed, sequences=a.sequences, frames=a.frames, width=a.width,
                      height=a.height, people=a.people, fps=a.fps, min_visible=a.min_visible)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in stats.items() if k != "options"}, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
