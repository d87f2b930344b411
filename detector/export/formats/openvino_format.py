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

from ...engine.checkpoint import CheckpointError
from ...utils.io import write_json
from ..exporter import FLOAT_TAIL, ExportJob, calibration_images, write_onnx
from ..registry import ExportFormat, register_format
from ..runtime import ExportedModel

META_FILE = "metadata.json"


def _xml_in(path: Path) -> Path | None:
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".xml":
        return p
    if p.is_dir():
        xmls = sorted(p.glob("*.xml"))
        if len(xmls) == 1:
            return xmls[0]
    return None


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

    def accepts(self, path: Path) -> bool:
        return _xml_in(path) is not None

    def open(self, path: Path, device: str = "cpu") -> ExportedModel:
        import openvino as ov

        xml = _xml_in(path)
        if xml is None or not xml.with_suffix(".bin").is_file():
            raise CheckpointError(f"{path}: not an OpenVINO model folder (one .xml with its .bin)")
        meta_file = xml.parent / META_FILE
        try:
            meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{meta_file}: unreadable metadata: {e}") from None
        core = ov.Core()
        try:
            model = core.read_model(str(xml))
        except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses for bad IR
            raise CheckpointError(f"{xml}: not a loadable OpenVINO model: {(str(e).splitlines() or [''])[0][:160]}") \
                from None
        if not meta and model.has_rt_info(["model_info", "format"]):
            meta = {k: str(model.get_rt_info(["model_info", k])) for k in ("names", "nms", "stride", "imgsz", "cat_ids",
                                                                         "format", "layout", "outputs", "graph_nms")
                    if model.has_rt_info(["model_info", k])}
        dev = "CPU" if str(device) in ("", "cpu") or str(device).isdigit() else str(device).upper()  # GPU, NPU
        # f32: no silent bf16 on CPUs that have it, so that the IR gives the checkpoint's numbers
        compiled = core.compile_model(model, dev, {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})
        req = compiled.create_infer_request()

        def run(x: np.ndarray) -> list[np.ndarray]:
            req.infer({0: x})
            return [req.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]

        shape = [d.get_length() if d.is_static else None for d in model.inputs[0].partial_shape] \
            if len(model.inputs) == 1 else []
        outs = [[d.get_length() if d.is_static else None for d in o.partial_shape] for o in model.outputs]
        em = ExportedModel(xml.parent, meta, shape, outs, run, np.float32, runtime="openvino")
        em.compiled = compiled
        return em
