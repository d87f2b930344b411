"""ONNX (``--format onnx``): one ``.onnx`` file, run by onnxruntime (or any ONNX runtime). ``--int8``: ONNX
Runtime static quantization (QDQ, per-channel weights, calibrated on images of ``--data``), the decoding tail,
the density readout and any in-graph NMS left in float."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from ..exporter import FLOAT_TAIL, ExportJob, calibration_images, write_onnx
from ..registry import ExportFormat, register_format


@register_format
class OnnxFormat(ExportFormat):
    name = "onnx"
    suffix = ".onnx"
    extra = "onnxruntime"
    int8 = True
    runtime = "onnxruntime"

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
