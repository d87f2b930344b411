"""Deprecated path of :mod:`detector.train.trainer`."""
from . import alias

alias(__name__, "detector.train.trainer")
