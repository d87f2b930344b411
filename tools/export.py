#!/usr/bin/env python3
"""detector-export (detector/cli/export.py) without installing: ``python tools/export.py --help``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.cli.export import main  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
