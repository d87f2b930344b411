"""Command-line entry points (``detector-train``, ``detector-val``, ... after ``pip install``).
``tools/*.py`` are thin wrappers over these modules; both take the same flags."""

import signal
import sys
import threading
from typing import Callable

from ..utils.stop import Terminated, clear, request

__all__ = ["Terminated", "run_job"]


def _raise_terminated(signum, frame):
    request()  # also recorded: should the exception below be cleared by an extension, the next step raises it
    raise Terminated()


def run_job(job: Callable[[], object], interrupted: str | Callable[[], str]) -> int:
    """Run a long job: exit 0 when done, 2 with one sentence for unusable input, 130 on Ctrl-C, 143 on
    SIGTERM (with the same sentence: checkpoints are written atomically, so the last one is whole).
    ``interrupted``: what to do next, or a function that says it from where the job stopped."""
    from ..config import ConfigError
    from ..checkpoint.file import CheckpointError

    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _raise_terminated) if main else None
    clear()
    try:
        job()
    except (ConfigError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a read-only --project, a full disk, a missing file
        from ..utils.io import describe_os_error

        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {_say(interrupted)}", file=sys.stderr)
        return 130
    except Terminated:
        clear()
        print(f"terminated (SIGTERM): {_say(interrupted)}", file=sys.stderr)
        return 143
    finally:
        if main:
            signal.signal(signal.SIGTERM, old)
    return 0


def _say(interrupted: str | Callable[[], str]) -> str:
    if not callable(interrupted):
        return interrupted
    try:
        return interrupted()
    except Exception as e:  # the sentence must never hide the interruption
        return f"(where the job stopped is unknown: {type(e).__name__})"
