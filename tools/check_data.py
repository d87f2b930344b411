#!/usr/bin/env python3
"""detector-check-data (detector/cli/check_data.py) without installing: ``python tools/check_data.py --help``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.cli.check_data import main  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
