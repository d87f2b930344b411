"""Deprecated path of :mod:`detector.predict.api`."""
from . import alias

alias(__name__, "detector.predict.api")
