#!/usr/bin/env python3
"""detector-train (detector/cli/train.py) without installing: ``python tools/train.py --help``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.cli.train import main, parse  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
