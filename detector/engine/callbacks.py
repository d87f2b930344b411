"""Deprecated path of :mod:`detector.train.callbacks`."""
from . import alias

alias(__name__, "detector.train.callbacks")
