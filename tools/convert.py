#!/usr/bin/env python3
"""detector-convert (detector/cli/convert.py) without installing: ``python tools/convert.py --help``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.cli.convert import main  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
