#!/usr/bin/env python3
"""Score MOTChallenge tracking results (ours or any tool's) against ground truth: HOTA, DetA, AssA, MOTA,
IDF1, id switches, by TrackEval (detector/eval/tracking.py).

  python tools/val_track.py --gt datasets/people_tracks --pred runs/detect/exp/tracks
  python tools/val_track.py --gt MOT17/train --pred my_tracker_out --seqs MOT17-02-FRCNN --json scores.json
--gt: <seq>/gt/gt.txt per sequence (and seqinfo.ini); --pred: <seq>.txt per sequence
(frame,id,x,y,w,h,conf,-1,-1,-1). Exit status: 0 scored, 2 missing or unreadable input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.eval.tracking import format_table, score_tracks  # noqa: E402
from detector.utils.io import write_text  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt", required=True, help="ground-truth root: <seq>/gt/gt.txt")
    ap.add_argument("--pred", required=True, help="results folder: <seq>.txt")
    ap.add_argument("--seqs", nargs="+", default=None, help="only these sequences (default: every one in --gt)")
    ap.add_argument("--json", default=None, help="also write the scores here")
    a = ap.parse_args(argv)
    try:
        scores = score_tracks(a.gt, a.pred, a.seqs)
    except (OSError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - TrackEval's own errors (a malformed row, ...): one sentence
        print(f"error: {a.pred}: TrackEval could not score it: {str(e).splitlines()[0][:200]}", file=sys.stderr)
        return 2
    print(format_table(scores))
    if a.json:
        write_text(Path(a.json), json.dumps(scores, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
