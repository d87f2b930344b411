"""ONNX export with box decoding inside the graph (NMS stays outside: run it with
``detector.ops.nms.non_max_suppression`` or let ``Detector``/``detect.py`` do it).

Graph: images float32[B, 3, H, W] in 0..1 (RGB) -> preds float32[B, N, 4 + nc + 1]
(x1, y1, x2, y2 in input pixels, class probabilities, density). Class names, category ids,
the default NMS and the strides are stored as ONNX metadata.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from ..data.image_io import read_image
from ..models import DecodedModel
from .checkpoint import load_checkpoint, model_from_checkpoint
from .predictor import Predictor


def export_onnx(weights: str | Path, img: int = 640, dynamic: bool = False, half: bool = False,
                out: str | Path | None = None, opset: int = 17, device: str = "cpu") -> Path:
    ck = load_checkpoint(weights)
    model = model_from_checkpoint(ck, str(weights)).eval().fuse()
    dev = torch.device(device)
    if half and dev.type != "cuda":
        raise ValueError("--half export needs a CUDA device (--device 0)")
    wrapped = DecodedModel(model).to(dev).eval()
    x = torch.zeros(1, 3, img, img, device=dev)
    if half:
        wrapped, x = wrapped.half(), x.half()
    out = Path(out) if out else Path(weights).with_suffix(".onnx")
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "preds": {0: "batch", 1: "anchors"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapped, (x,), str(out), opset_version=opset, input_names=["images"], output_names=["preds"],
                          dynamic_axes=axes, dynamo=False)
    import onnx

    m = onnx.load(str(out))
    meta = {"names": json.dumps({str(k): v for k, v in model.names.items()}), "nms": ck.get("nms") or model.cfg.nms,
            "stride": json.dumps([int(s) for s in model.stride.tolist()]), "imgsz": str(img),
            "cat_ids": json.dumps(ck.get("cat_ids") or list(range(model.nc))), "format": "detector-onnx-v1",
            "layout": json.dumps(model.head.decoded_layout)}
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, str(out))
    return out


def compare_onnx(weights: str | Path, onnx_path: str | Path, image: str | Path | np.ndarray, img: int) -> float:
    """Max abs difference between onnxruntime and PyTorch decoded outputs on one real image, both run
    through the same :class:`Predictor` (same letterbox and normalisation)."""
    import onnxruntime as ort

    arr = image if isinstance(image, np.ndarray) else read_image(image)
    model = model_from_checkpoint(load_checkpoint(weights), str(weights)).eval().fuse()
    torch_p = Predictor.from_model(model, torch.device("cpu"), img=img, rect=False)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_p = Predictor.from_onnx(sess, torch_p.stride, img=img, rect=False)
    x, _ = torch_p.preprocess([arr])
    return float((onnx_p.forward(x) - torch_p.forward(x)).abs().max())
