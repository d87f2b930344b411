"""One :class:`ExportedModel` whatever the runtime (onnxruntime, OpenVINO) that opened the file.

The metadata written at export (:func:`detector.export.exporter.export_metadata`) is checked here, so a
file that is not one of our exports is refused with a message naming it, before anything runs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..checkpoint.errors import CheckpointError
from ..ops.nms import resolve_nms


class ExportedModel:
    """An exported graph and what its metadata says. ``run``: float32/16 ndarray [B, 3, H, W] -> list of
    output ndarrays; ``input_shape``: the graph's input dims (ints, or None where dynamic)."""

    def __init__(self, path: Path, meta: dict[str, str], input_shape: list, output_shapes: list[list],
                 run: Callable[[np.ndarray], list[np.ndarray]], input_dtype=np.float32, runtime: str = ""):
        self.path, self.meta, self.input_shape, self._run = Path(path), dict(meta), list(input_shape), run
        self.input_dtype, self.runtime = input_dtype, runtime
        self._check(output_shapes)

    def _fail(self, why: str):
        raise CheckpointError(f"{self.path}: {why}")

    def _check(self, output_shapes: list[list]) -> None:
        meta = self.meta
        in_graph = meta.get("outputs") == "detections"
        want = 2 if in_graph else 1
        if (meta.get("format") != "detector-onnx-v1" or len(self.input_shape) != 4 or len(output_shapes) != want
                or len(output_shapes[0]) != 3):
            kind = {"onnxruntime": "an ONNX model", "openvino": "an OpenVINO model"}.get(self.runtime, "a model")
            self._fail(f"not {kind} exported by tools/export.py (expected one image input [B, 3, H, W] and "
                       "one output [B, N, 4 + classes + 1], or dets [B, max_det, 7] + num [B], with our metadata; "
                       f"got inputs {self.input_shape}, outputs {output_shapes})")
        try:
            names = json.loads(meta.get("names", "{}"))
            self.names = {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
        except (ValueError, TypeError, AttributeError) as e:
            self._fail(f"unreadable class names in the metadata: {e}")
        try:  # the head's decoded layout, written at export (older exports: Detect's)
            self.layout = json.loads(meta.get("layout") or "null") or {"xyxy": 4, "cls": len(self.names), "density": 1}
            width = sum(int(v) for v in self.layout.values())
            self.stride = max(int(s) for s in json.loads(meta.get("stride", "[32]")))
            self.cat_ids = json.loads(meta["cat_ids"]) if "cat_ids" in meta else None
            self.graph_nms = json.loads(meta["graph_nms"]) if in_graph else None
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            self._fail(f"unreadable metadata (layout, stride, category ids or NMS settings): {e}")
        last = output_shapes[0][2]
        if self.layout.get("cls") != len(self.names) or (not in_graph and isinstance(last, int) and last != width):
            self._fail(f"its output has {last} values per box, but its metadata names {len(self.names)} classes "
                       f"and the columns {self.layout} (expected {width})")
        if in_graph and isinstance(last, int) and last != 7:
            self._fail(f"its detections output has {last} values per row, expected 7")
        self.default_nms = self.graph_nms["method"] if self.graph_nms else resolve_nms(meta.get("nms"))

    @property
    def static_size(self) -> int | None:
        """The square input size of a static export (None: dynamic height/width)."""
        h = self.input_shape[2]
        return int(h) if isinstance(h, int) else None

    @property
    def static_batch(self) -> int | None:
        b = self.input_shape[0]
        return int(b) if isinstance(b, int) else None

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        """x float ndarray [B, 3, H, W] (0..1) -> outputs; a static batch-1 graph is fed one image at a time."""
        x = x.astype(self.input_dtype, copy=False)
        if self.static_batch is None or x.shape[0] == self.static_batch:
            return self._run(x)
        parts = [self._run(x[i:i + 1]) for i in range(x.shape[0])]
        return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
