"""Argparse value types and checks shared by the tools: bad values stop at parse time with argparse's
usage message and exit status 2, never as a traceback later."""
from __future__ import annotations

import argparse
import sys

MAX_STRIDE = 32  # the largest output stride of the shipped models (P5); inputs are multiples of it


def _int_at_least(v: str, low: int, what: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {v!r}") from None
    if n < low:
        raise argparse.ArgumentTypeError(f"must be {what}, got {v}")
    return n


def positive_int(v: str) -> int:
    return _int_at_least(v, 1, "a positive integer")


def non_negative_int(v: str) -> int:
    return _int_at_least(v, 0, "an integer >= 0")


def fraction(v: str) -> float:
    """A share in (0, 1]."""
    try:
        f = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {v!r}") from None
    if not 0 < f <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {v}")
    return f


def unit_float(v: str) -> float:
    """A float in [0, 1] (confidence and IoU thresholds)."""
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {v!r}") from None
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {v}")
    return x


def round_img(img: int | None, stride: int = MAX_STRIDE, flag: str = "--img") -> int | None:
    """Round an image size up to a multiple of ``stride``, with a warning (as YOLOv5/Ultralytics do)."""
    if img is None or img % stride == 0:
        return img
    new = (img + stride - 1) // stride * stride
    print(f"warning: {flag} {img} is not a multiple of the stride {stride}; using {new}", file=sys.stderr)
    return new
