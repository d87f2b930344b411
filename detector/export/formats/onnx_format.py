"""ONNX (``--format onnx``): one ``.onnx`` file, run by onnxruntime (or any ONNX runtime). ``--int8``: ONNX
Runtime static quantization (QDQ, per-channel weights, calibrated on images of ``--data``), the decoding tail,
the density readout and any in-graph NMS left in float."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from ...engine.checkpoint import CheckpointError
from ..exporter import FLOAT_TAIL, ExportJob, calibration_images, write_onnx
from ..registry import ExportFormat, register_format
from ..runtime import ExportedModel


@register_format
class OnnxFormat(ExportFormat):
    name = "onnx"
    suffix = ".onnx"
    extra = "onnxruntime"
    int8 = True

    def export(self, job: ExportJob) -> Path:
        out = self.output_path(job)
        if not job.int8:
            return write_onnx(job, out)
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        fp32 = write_onnx(job, out.with_name(out.stem + ".fp32.onnx"))
        model = onnx.load(str(fp32))
        meta = {p.key: p.value for p in model.metadata_props}
        keep_float = [n.name for n in model.graph.node if any(re.match(p, n.name) for p in FLOAT_TAIL)]
        calib = calibration_images(job, max(json.loads(meta["stride"])))

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(calib)

            def get_next(self):
                x = next(self.it, None)
                return None if x is None else {"images": x}

        tmp = out.with_name(out.name + ".part")
        try:
            quantize_static(str(fp32), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=keep_float)
        finally:
            os.remove(fp32)
        q = onnx.load(str(tmp))
        del q.metadata_props[:]
        meta["int8"] = json.dumps({"calibration": str(job.data), "split": job.calib_split, "images": len(calib),
                                   "tool": "onnxruntime.quantization (QDQ)"})
        for k, v in meta.items():
            p = q.metadata_props.add()
            p.key, p.value = k, v
        onnx.save(q, str(tmp))
        os.replace(tmp, out)
        return out

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
