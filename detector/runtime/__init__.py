"""Running an exported model, whatever wrote it: one small interface for prediction and evaluation.

    em = open_exported("best.onnx")          # or "best_openvino_model/" (any registered runtime)
    outs = em(x)                             # x float32[B, 3, H, W] in 0..1 -> the graph's outputs (numpy)
    em.names, em.layout, em.stride, em.graph_nms, em.static_size

Runtimes: :mod:`.onnx` (onnxruntime), :mod:`.openvino`; add one with ``@register_runtime`` (:mod:`.base`).
"""
from __future__ import annotations

from pathlib import Path

from ..checkpoint.errors import CheckpointError
from . import onnx, openvino  # noqa: F401  (registers the runtimes)
from .base import RUNTIMES, Runtime, register_runtime
from .model import ExportedModel


def runtime_for_path(path: str | Path) -> Runtime | None:
    """The registered runtime that opens ``path`` (None: a checkpoint or something else)."""
    p = Path(path)
    for rt in RUNTIMES.values():
        if rt.accepts(p):
            return rt
    return None


def open_exported(path: str | Path, device: str = "cpu") -> ExportedModel:
    """An exported model of any registered runtime (recognised from the path)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: exported model not found")
    rt = runtime_for_path(p)
    if rt is None:
        raise CheckpointError(f"{p}: not an exported model of a known format (runtimes: {', '.join(RUNTIMES)})")
    return rt.open(p, device)


def is_exported(path: str | Path) -> bool:
    """True when ``path`` is a model file a registered runtime opens (not a checkpoint)."""
    return runtime_for_path(path) is not None


__all__ = ["RUNTIMES", "ExportedModel", "Runtime", "is_exported", "open_exported", "register_runtime",
           "runtime_for_path"]
