"""Inference for people who embed the detector, and the engine behind tools/detect.py.

>>> from detector import Detector
>>> dets = Detector("runs/train/exp/weights/best.pt").predict("image.jpg")
>>> dets.boxes, dets.scores, dets.classes, dets.labels   # original-image pixels, xyxy

``weights`` may be a checkpoint (.pt) or an exported ONNX model (.onnx, run by onnxruntime with
the same pre-processing and NMS).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.image_io import as_bgr_uint8, read_image
from ..ops.nms import IOU_THRES, MAX_DET, PREDICT_CONF

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from .dist import select_device
from .predictor import Predictor


@dataclass
class Detections:
    boxes: np.ndarray  # [K, 4] xyxy, original-image pixels
    scores: np.ndarray  # [K]
    classes: np.ndarray  # [K] int
    names: dict  # class id -> name
    densities: np.ndarray | None = None  # [K] predicted crowd density
    shape: tuple[int, int] = (0, 0)  # (height, width) of the image

    @property
    def labels(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.classes]

    def __len__(self) -> int:
        return len(self.boxes)


def auto_rect(device: torch.device) -> bool:
    """Rectangular inference unless on CUDA. There every new input shape costs 0.1-0.6 s of cuDNN kernel
    planning, so a folder of mixed-size images ran 11x slower rectangular than square (104 vs 9 ms per
    image, H100, docs/BENCHMARKS.md), while batch-1 GPU inference is launch-bound and pays nothing for
    the square's extra pixels. On CPU the smaller rectangle is simply less work."""
    return device.type != "cuda"


@dataclass
class Timing:
    pre: float = 0.0
    inference: float = 0.0
    nms: float = 0.0
    images: int = 0
    per_class: dict = field(default_factory=dict)


class Detector:
    def __init__(self, weights: str | Path, device: str = "", img: int = 640, conf_thres: float = PREDICT_CONF,
                 iou_thres: float = IOU_THRES, nms: str | None = None, max_det: int = MAX_DET,
                 classes: list[int] | None = None, half: bool = False, agnostic: bool = False,
                 rect: bool | None = None):
        """``rect``: pad each batch only to a multiple of the stride (True) or to ``img`` x ``img`` (False);
        None picks :func:`auto_rect` for the device."""
        self.weights = Path(weights)
        self.timing = Timing()
        opts = dict(img=img, rect=rect, conf_thres=conf_thres, iou_thres=iou_thres, max_det=max_det, classes=classes,
                    agnostic=agnostic)
        if self.weights.suffix == ".onnx":
            self._init_onnx(opts, nms)
        else:
            self.device = select_device(device)
            opts["rect"] = auto_rect(self.device) if rect is None else rect
            ck = load_checkpoint(self.weights)
            # channels-last (NHWC) convolutions: ~1.2x faster on CPU (oneDNN, docs/BENCHMARKS.md), tensor-core friendly on CUDA
            self.model = model_from_checkpoint(ck, str(self.weights)).to(self.device).fuse().eval()
            self.model = self.model.to(memory_format=torch.channels_last)
            self.half = half and self.device.type == "cuda"
            if self.half:
                self.model.half()
            self.names = dict(self.model.names)
            self.cat_ids = ck.get("cat_ids")
            self.default_nms = ck.get("nms") or self.model.cfg.nms
            self.predictor = Predictor.from_model(self.model, self.device, self.half, nms=nms or self.default_nms, **opts)

    # the predictor's settings, readable and settable here
    img = property(lambda self: self.predictor.img, lambda self, v: setattr(self.predictor, "img", v))
    rect = property(lambda self: self.predictor.rect, lambda self, v: setattr(self.predictor, "rect", v))
    stride = property(lambda self: self.predictor.stride)
    nms = property(lambda self: self.predictor.options.nms)

    def _init_onnx(self, opts: dict, nms: str | None) -> None:
        import onnxruntime as ort

        if not self.weights.is_file():
            raise FileNotFoundError(f"{self.weights}: ONNX model not found")
        if self.weights.stat().st_size == 0:
            raise CheckpointError(f"{self.weights}: an empty file (0 bytes), not an ONNX model")
        try:
            self.session = ort.InferenceSession(str(self.weights), providers=ort.get_available_providers())
        except Exception as e:  # onnxruntime raises its own exception classes for corrupt/truncated graphs
            raise CheckpointError(f"{self.weights}: not a loadable ONNX model (corrupt or truncated?): "
                                  f"{(str(e).splitlines() or [type(e).__name__])[0][:160]}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        inp, outs = self.session.get_inputs(), self.session.get_outputs()
        oshape = outs[0].shape if outs else []
        if meta.get("format") != "detector-onnx-v1" or len(inp) != 1 or len(inp[0].shape) != 4 or len(oshape) != 3:
            raise CheckpointError(
                f"{self.weights}: not an ONNX model exported by tools/export.py (expected one image input "
                f"[B, 3, H, W] and one output [B, N, 4 + classes + 1] with our metadata; got inputs "
                f"{[i.shape for i in inp]}, outputs {[o.shape for o in outs]})")
        try:
            names = json.loads(meta.get("names", "{}"))
            self.names = {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
        except (ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{self.weights}: unreadable class names in the ONNX metadata: {e}") from None
        try:  # the head's decoded layout, written at export (older exports: Detect's)
            layout = json.loads(meta.get("layout") or "null") or {"xyxy": 4, "cls": len(self.names), "density": 1}
            width = sum(int(v) for v in layout.values())
        except (ValueError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{self.weights}: unreadable output layout in the ONNX metadata: {e}") from None
        if layout.get("cls") != len(self.names) or (isinstance(oshape[2], int) and oshape[2] != width):
            raise CheckpointError(f"{self.weights}: its output has {oshape[2]} values per box, but its metadata names "
                                  f"{len(self.names)} classes and the columns {layout} (expected {width})")
        self.default_nms = meta.get("nms", "greedy")
        self.cat_ids = json.loads(meta["cat_ids"]) if "cat_ids" in meta else None
        shape = self.session.get_inputs()[0].shape
        if opts["rect"] is None:
            opts["rect"] = auto_rect(torch.device("cpu"))
        if isinstance(shape[2], int):  # static export: its size wins, square input only
            opts.update(img=int(shape[2]), rect=False)
        self.device, self.half = torch.device("cpu"), False
        self.predictor = Predictor.from_onnx(self.session, max(json.loads(meta.get("stride", "[32]"))),
                                             nms=nms or self.default_nms, layout=layout, **opts)

    # -------------------------------------------------------------------------
    def input_shape(self, imgs: list[np.ndarray]) -> tuple[int, int]:
        return self.predictor.input_shape(imgs)

    def preprocess(self, imgs: list[np.ndarray]) -> tuple[torch.Tensor, list[dict]]:
        return self.predictor.preprocess(imgs)

    def predict_arrays(self, imgs: list[np.ndarray]) -> list[Detections]:
        """BGR images (HxWx3 uint8; also gray, BGRA, channels-first, float in [0, 1] or [0, 255]:
        :func:`~detector.data.image_io.as_bgr_uint8`) -> one Detections each."""
        if not len(imgs):
            return []
        imgs = [as_bgr_uint8(a, f"image {k}") for k, a in enumerate(imgs)]
        p = self.predictor
        t0 = time.perf_counter()
        x, metas = p.preprocess(imgs)
        t1 = time.perf_counter()
        if p.needs_warmup:  # one-time CUDA start-up, kept out of the per-image speed
            p.warmup(x)
            t1 = time.perf_counter()
        preds = p.forward(x)
        p.sync()
        t2 = time.perf_counter()
        dets = p.to_original(p.postprocess(preds), metas)
        t3 = time.perf_counter()
        self.timing.pre += t1 - t0
        self.timing.inference += t2 - t1
        self.timing.nms += t3 - t2
        self.timing.images += len(imgs)
        out = []
        for d, m in zip(dets, metas):
            b = d[:, :4].numpy() if len(d) else np.zeros((0, 4), np.float32)
            cls = d[:, 5].long().numpy()
            for c in cls:
                self.timing.per_class[int(c)] = self.timing.per_class.get(int(c), 0) + 1
            out.append(Detections(b, d[:, 4].numpy(), cls, self.names, d[:, 6].numpy() if d.shape[1] > 6 else None,
                                  tuple(m["orig_shape"])))
        return out

    def predict(self, source):
        """An image array (BGR), a path, or a list of them -> Detections (or a list)."""
        single = not isinstance(source, (list, tuple))
        items = [source] if single else list(source)
        if not isinstance(source, (np.ndarray, str, Path, list, tuple)):
            raise ValueError(f"predict: expected an image array, a path or a list of them, got {type(source).__name__}")
        imgs = [s if isinstance(s, np.ndarray) else read_image(s) for s in items]
        res = self.predict_arrays(imgs)
        return res[0] if single else res
