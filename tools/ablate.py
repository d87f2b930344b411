#!/usr/bin/env python3
"""detector-ablate (detector/cli/ablate.py) without installing: ``python tools/ablate.py --help``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.cli.ablate import main, parse  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
