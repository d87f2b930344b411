"""The contract between the YAML builder and a block.

Every registered block implements::

    @classmethod
    def from_yaml(cls, ctx: LayerContext, *args) -> tuple[nn.Module, int | list[int]]

``ctx`` carries the input channels (one entry per input tensor), the
depth-scaled repeat count and the width scaling; ``args`` is the YAML ``args``
list. It returns the module and its output channels (a list for blocks with
several output tensors, e.g. a neck returning P3, P4, P5).

A block that sets ``consumes_repeats = True`` uses ``ctx.n`` itself (e.g. the
number of bottlenecks of a C2f); for any other block the builder stacks
``ctx.n`` copies in an ``nn.Sequential``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def make_divisible(x: float, divisor: int = 8) -> int:
    """Smallest multiple of ``divisor`` that is >= ``x``."""
    return int(math.ceil(x / divisor) * divisor)


@dataclass(frozen=True)
class LayerContext:
    """What a block needs to know to build itself from YAML args."""

    c_in: tuple[int, ...]  # channels of each input tensor
    n: int = 1  # repeats after depth scaling
    width: float = 1.0  # width multiple of the chosen scale
    max_channels: int = 1 << 30  # channel cap of the chosen scale
    nc: int = 80  # number of classes
    scale: str = ""  # name of the chosen scale ('n', 's', ...; '' when the file has no scales)

    @property
    def c1(self) -> int:
        """Channels of the single input; an error if the layer has several inputs."""
        if len(self.c_in) != 1:
            raise ValueError(f"expects one input, got {len(self.c_in)} (channels {list(self.c_in)})")
        return self.c_in[0]

    def ch(self, c: int) -> int:
        """Scale a YAML channel count by the width multiple (capped, multiple of 8)."""
        if not isinstance(c, int) or isinstance(c, bool) or c <= 0:
            raise ValueError(f"channel count must be a positive integer, got {c!r}")
        return make_divisible(min(c, self.max_channels) * self.width, 8)


def check_positive(**values) -> None:
    """Raise ``ValueError`` naming the first YAML arg that is not a positive integer (a stride,
    kernel size, group count, reduction or scale of 0 would only fail at the first forward)."""
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
