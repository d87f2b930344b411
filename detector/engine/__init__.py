"""Deprecated: ``detector.engine`` was split by job in 0.2 — :mod:`detector.train`, :mod:`detector.predict`,
:mod:`detector.eval`, :mod:`detector.checkpoint`. The module paths that user code was shown
(``detector.engine.trainer``, ``.callbacks``, ``.detector_api``, ``.checkpoint``) still import, with a
``DeprecationWarning``, and are the new modules themselves; they go in a later release."""
from __future__ import annotations

import importlib
import sys
import warnings


def alias(old: str, new: str) -> None:
    """Make the module being imported as ``old`` the module ``new`` (same object: patches reach it)."""
    warnings.warn(f"{old} moved to {new}; import it from there (the old path goes in a later release)",
                  DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)
