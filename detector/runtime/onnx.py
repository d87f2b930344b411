"""ONNX models through onnxruntime (CPU, or the providers onnxruntime has for another device)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint.errors import CheckpointError
from .base import Runtime, register_runtime
from .model import ExportedModel


@register_runtime
class OnnxRuntime(Runtime):
    name = "onnxruntime"

    def accepts(self, path: Path) -> bool:
        return Path(path).suffix.lower() == ".onnx"

    def open(self, path: Path, device: str = "cpu") -> ExportedModel:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX model not found")
        if path.stat().st_size == 0:
            raise CheckpointError(f"{path}: an empty file (0 bytes), not an ONNX model")
        providers = ort.get_available_providers()
        if str(device) == "cpu":
            providers = ["CPUExecutionProvider"]
        try:
            sess = ort.InferenceSession(str(path), providers=providers)
        except Exception as e:  # onnxruntime raises its own exception classes for corrupt/truncated graphs
            raise CheckpointError(f"{path}: not a loadable ONNX model (corrupt or truncated?): "
                                  f"{(str(e).splitlines() or [type(e).__name__])[0][:160]}") from None
        inp = sess.get_inputs()
        shape = inp[0].shape if inp else []
        dtype = np.float16 if inp and "float16" in inp[0].type else np.float32
        name = inp[0].name if inp else "images"

        def run(x: np.ndarray) -> list[np.ndarray]:
            return sess.run(None, {name: x})

        em = ExportedModel(path, sess.get_modelmeta().custom_metadata_map,
                           [d if isinstance(d, int) else None for d in shape] if len(inp) == 1 else [],
                           [o.shape for o in sess.get_outputs()], run, dtype, runtime="onnxruntime")
        em.session = sess
        return em
