"""Command-line entry points (``detector-train``, ``detector-val``, ... after ``pip install``).
``tools/*.py`` are thin wrappers over these modules; both take the same flags."""

import sys
from typing import Callable


def run_job(job: Callable[[], object], interrupted: str) -> int:
    """Run a long job: exit 0 when done, 2 with one sentence for unusable input, 130 on Ctrl-C."""
    from ..config import ConfigError
    from ..engine.checkpoint import CheckpointError

    try:
        job()
    except (ConfigError, CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return 130
    return 0
