"""Deprecated path of :mod:`detector.checkpoint`."""
from . import alias

alias(__name__, "detector.checkpoint")
