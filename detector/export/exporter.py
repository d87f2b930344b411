"""Export a checkpoint: one graph (decoding inside, NMS optionally inside), written by a registered format.

    job = ExportJob("best.pt", format="openvino", img=640, nms_in_graph="adaptive")
    path = export_model(job)                 # tools/export.py calls this, then check_export

Graph outputs:
- default: ``preds`` float32[B, N, 4 + nc + 1] (x1, y1, x2, y2 in input pixels, class probabilities,
  density: the head's ``decoded_layout``); NMS runs outside (our Predictor, or yours).
- ``nms_in_graph``: ``dets`` float32[B, max_det, 7] (x1, y1, x2, y2, score, class, density; zeros past the
  count) and ``num`` int64[B]; see :mod:`detector.export.graph_nms`.

Class names, category ids, strides, the layout and the baked NMS settings go into the metadata
(:func:`export_metadata`), which :mod:`detector.runtime.model` reads back.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint.file import load_checkpoint, model_from_checkpoint
from ..models import DecodedModel
from ..ops.nms import IOU_THRES, MAX_DET, PREDICT_CONF, resolve_nms
from ..utils.cli import round_img
from .graph_nms import GRAPH_NMS
from .registry import FORMATS, get_format

# INT8 keeps these in float. Node names come from the export's module scopes: "/decoded/model/..." is the
# network, "/decoded/<op>" the head's decoding (DFL softmax and expectation, anchor arithmetic, sigmoids),
# "/nms/..." an in-graph NMS; the density readout's conv is kept in float too. Quantizing the box arithmetic
# is what takes INT8 YOLO exports to near-zero mAP; it costs little in float.
FLOAT_TAIL = [r"^/decoded/(?!model/).*", r"^/nms/.*", r".*/density_pred.*"]
FORMAT_TAG = "detector-onnx-v1"  # the metadata's "format": what runtime.py accepts
MAX_CANDIDATES = 1024  # adaptive NMS in the graph: boxes above conf it can hold (pairwise work K x K)


@dataclass
class ExportJob:
    weights: str
    format: str = "onnx"
    img: int = 640
    dynamic: bool = False
    half: bool = False
    device: str = "cpu"
    opset: int = 17
    output: str | None = None
    nms_in_graph: str | None = None  # None, "greedy" or "adaptive"
    conf: float = PREDICT_CONF  # baked into an in-graph NMS
    iou: float = IOU_THRES
    max_det: int = MAX_DET
    max_candidates: int = MAX_CANDIDATES
    int8: bool = False
    data: str | None = None  # calibration images for --int8 (a data YAML)
    calib_split: str = "train"
    calib_images: int = 300


class ExportGraph(nn.Module):
    """images float[B, 3, H, W] in 0..1 -> decoded predictions, or (dets, num) with NMS in the graph."""

    def __init__(self, model: nn.Module, nms: nn.Module | None = None):
        super().__init__()
        self.decoded = DecodedModel(model)
        self.nms = nms

    def forward(self, x: torch.Tensor):
        p = self.decoded(x)
        return p if self.nms is None else self.nms(p.float())


def load_model(weights: str | Path) -> tuple[dict, nn.Module]:
    ck = load_checkpoint(weights)
    return ck, model_from_checkpoint(ck, str(weights)).eval().fuse()


def build_graph(model: nn.Module, job: ExportJob) -> ExportGraph:
    nms = None
    if job.nms_in_graph:
        layout = model.head.decoded_layout
        kw = dict(conf=job.conf, iou=job.iou, max_det=job.max_det)
        if job.nms_in_graph == "adaptive":
            kw["max_candidates"] = job.max_candidates
        nms = GRAPH_NMS.get(job.nms_in_graph)(layout["cls"], "density" in layout, **kw)
    return ExportGraph(model, nms).eval()


def export_metadata(model: nn.Module, ck: dict, job: ExportJob) -> dict[str, str]:
    meta = {"names": json.dumps({str(k): v for k, v in model.names.items()}), "nms": resolve_nms(ck.get("nms"), model.cfg.nms),
            "stride": json.dumps([int(s) for s in model.stride.tolist()]), "imgsz": str(job.img),
            "cat_ids": json.dumps(ck.get("cat_ids") or list(range(model.nc))), "format": FORMAT_TAG,
            "layout": json.dumps(model.head.decoded_layout), "outputs": "detections" if job.nms_in_graph else "decoded"}
    if job.nms_in_graph:
        meta["graph_nms"] = json.dumps({"method": job.nms_in_graph, "conf": job.conf, "iou": job.iou,
                                        "max_det": job.max_det, "max_candidates": job.max_candidates})
    return meta


def write_onnx(job: ExportJob, path: Path, model: nn.Module | None = None, ck: dict | None = None) -> Path:
    """The ONNX graph of ``job`` at ``path`` (checked by onnx.checker), our metadata included; written to a
    temporary name first, so a failed export leaves no half file."""
    import onnx

    if model is None:
        ck, model = load_model(job.weights)
    job = replace(job, img=round_img(job.img, model.max_stride))
    dev = torch.device(job.device)
    if job.half and dev.type != "cuda":
        raise ValueError("--half export needs a CUDA device (--device 0)")
    graph = build_graph(model, job).to(dev)
    x = torch.zeros(1, 3, job.img, job.img, device=dev)
    if job.half:
        graph.decoded.half()
        x = x.half()
    outputs = ["dets", "num"] if job.nms_in_graph else ["preds"]
    axes = None
    if job.dynamic:
        axes = {"images": {0: "batch", 2: "height", 3: "width"}}
        axes.update({"dets": {0: "batch"}, "num": {0: "batch"}} if job.nms_in_graph else
                    {"preds": {0: "batch", 1: "anchors"}})
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (x,), str(tmp), opset_version=job.opset, input_names=["images"],
                          output_names=outputs, dynamic_axes=axes, dynamo=False)
    m = onnx.load(str(tmp))
    for k, v in export_metadata(model, ck, job).items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, str(tmp))
    os.replace(tmp, path)
    return path


def export_model(job: ExportJob) -> Path:
    """Write ``job.format``'s artifact; returns its path (a file or a folder)."""
    fmt = get_format(job.format)
    if job.int8 and not fmt.int8:
        raise ValueError(f"--int8: the {fmt.name} format has no INT8 quantization here "
                         f"(formats with it: {[k for k, f in FORMATS.items() if f.int8]})")
    if job.int8 and not job.data:
        raise ValueError("--int8 needs calibration images: give --data (a data YAML; its train split is used)")
    return fmt.export(job)



def calibration_images(job: ExportJob, stride: int) -> list[np.ndarray]:
    """Up to ``job.calib_images`` network inputs float32[1, 3, img, img] (0..1) from the data YAML's
    ``calib_split``, letterboxed exactly as the predictor does."""
    from ..data import index_split, load_data_config
    from ..data.image_io import ImageReadError, read_image
    from ..data.transforms import normalize_images
    from ..predict.predictor import Predictor

    idx = index_split(load_data_config(job.data), job.calib_split)
    if not idx.records:
        raise ValueError(f"{job.data}: the {job.calib_split} split has no images for INT8 calibration")
    p = Predictor(None, stride, torch.device("cpu"), img=job.img, rect=False)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(idx.records))[:job.calib_images]
    out = []
    for i in order:
        try:
            im = read_image(idx.records[int(i)].path)
        except ImageReadError:
            continue
        x, _ = p.preprocess([im])
        out.append(normalize_images(x).numpy())
    if not out:
        raise ValueError(f"{job.data}: no readable images in the {job.calib_split} split for INT8 calibration")
    return out
