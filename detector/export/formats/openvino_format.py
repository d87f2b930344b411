"""OpenVINO IR (``--format openvino``): a folder ``<name>_openvino_model/`` with ``<name>.xml`` / ``.bin`` and
``metadata.json``, converted from our ONNX graph and run by OpenVINO Runtime (``pip install openvino``, in the
``openvino`` and ``dev`` extras). ``--int8`` quantizes it with NNCF post-training quantization on calibration
images, the decoding tail (DFL, sigmoids, box arithmetic, density) and any in-graph NMS kept in float."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from ...utils.io import write_json
from ..exporter import FLOAT_TAIL, ExportJob, calibration_images, write_onnx
from ...runtime.openvino import META_FILE
from ..registry import ExportFormat, register_format

def float_tail_scope():
    """NNCF ignored scope: the decoding tail, any in-graph NMS and the density readout stay in float
    (:data:`detector.export.exporter.FLOAT_TAIL`)."""
    import nncf

    return nncf.IgnoredScope(patterns=FLOAT_TAIL, validate=False)


@register_format
class OpenVINOFormat(ExportFormat):
    name = "openvino"
    suffix = "_openvino_model"
    extra = "openvino"
    int8 = True
    runtime = "openvino"

    def export(self, job: ExportJob) -> Path:
        import onnx
        import openvino as ov

        out = self.output_path(job)
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out}: exists and is not a folder")
        tmp = out.with_name(out.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        onnx_path = write_onnx(dataclasses.replace(job, half=False), tmp / "graph.onnx")
        meta = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
        model = ov.convert_model(str(onnx_path))
        os.remove(onnx_path)
        if job.int8:
            import nncf

            logging.getLogger("nncf").setLevel(logging.WARNING)  # its per-node INFO lines would bury our output
            calib = calibration_images(job, max(json.loads(meta["stride"])))
            model = nncf.quantize(model, nncf.Dataset(calib), subset_size=len(calib),
                                  preset=nncf.QuantizationPreset.MIXED, ignored_scope=float_tail_scope())
            meta["int8"] = json.dumps({"calibration": str(job.data), "split": job.calib_split, "images": len(calib),
                                       "tool": "nncf"})
        for k, v in meta.items():
            model.set_rt_info(v, ["model_info", k])
        stem = Path(job.weights).stem
        ov.save_model(model, str(tmp / f"{stem}.xml"), compress_to_fp16=bool(job.half))
        write_json(tmp / META_FILE, meta)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        return out
