"""Network blocks. Importing this package registers every block in ``detector.registry.MODULES``."""
from . import attention, bifpn, blocks, conv, csp, heads, pan, psa  # noqa: F401  (explicit registration)
from .attention import CBAM, ECA, SE, CoordAtt, SimAM
from .base import LayerContext, make_divisible
from .bifpn import BiFPN, WeightedFusion
from .blocks import C2f, SPPF, Concat, Identity, Upsample
from .conv import Conv, SeparableConv
from .csp import C3k2
from .heads import Detect
from .pan import PAN
from .psa import C2PSA

__all__ = [
    "CBAM", "ECA", "SE", "CoordAtt", "SimAM", "LayerContext", "make_divisible", "BiFPN", "WeightedFusion",
    "C2f", "SPPF", "Concat", "Identity", "Upsample", "Conv", "SeparableConv", "Detect", "PAN", "C3k2", "C2PSA",
]
