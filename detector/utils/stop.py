"""A termination request that cannot be lost: SIGTERM's handler raises in the main thread (``cli.run_job``),
but an exception raised while a C extension has called back into Python can be cleared by that extension,
and the run would go on to its end. The handler therefore also records the request here, and long loops
(the trainer's batches and epochs) call :func:`check` at each step."""
from __future__ import annotations


class Terminated(Exception):
    """SIGTERM (a scheduler, ``kill``, torchrun ending a job) raised in the main thread, as SIGINT is."""


_requested = False


def request() -> None:
    global _requested
    _requested = True


def clear() -> None:
    global _requested
    _requested = False


def check() -> None:
    """Raise :class:`Terminated` when a termination was requested (and not yet raised through here)."""
    global _requested
    if _requested:
        _requested = False
        raise Terminated()
