"""OpenVINO IR folders (``best_openvino_model/``: one .xml with its .bin, and our metadata) through OpenVINO."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..checkpoint.errors import CheckpointError
from .base import Runtime, register_runtime
from .model import ExportedModel

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


@register_runtime
class OpenVINORuntime(Runtime):
    name = "openvino"

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
