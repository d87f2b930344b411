"""Check a dataset's images and labels; write labels_report.json; exit 1 if anything was rejected.

  detector-check-data --data cfg/data/coco128.yaml [--splits train val] [--show 8] [--out runs/check]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.config import ConfigError
from detector.data.check import check_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="dataset YAML")
    ap.add_argument("--splits", nargs="*", default=None, help="splits to check (default: all in the YAML)")
    ap.add_argument("--out", default="runs/check", help="folder for labels_report.json and pictures")
    ap.add_argument("--show", type=int, default=0, help="draw N labelled samples per split into --out")
    ap.add_argument("--no-decode", action="store_true", help="header checks only (faster; skips full decoding)")
    ap.add_argument("--max-list", type=int, default=20, help="print at most this many issues per split")
    args = ap.parse_args(argv)
    try:
        result = check_dataset(args.data, args.splits, Path(args.out), decode=not args.no_decode, show=args.show)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for split, issues in result.issues.items():
        for i in issues[: args.max_list]:
            print(i)
        if len(issues) > args.max_list:
            print(f"... {len(issues) - args.max_list} more {split} issues in {result.report_path}")
    print(result.summary)
    print(f"report: {result.report_path}")
    for p in result.pictures:
        print(f"picture: {p}")
    return 1 if result.rejected else 0


if __name__ == "__main__":
    sys.exit(main())
