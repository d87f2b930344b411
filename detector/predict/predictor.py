"""The one inference path: images -> network input -> forward -> decode -> NMS -> original pixels.

``val`` (and training's validation), ``detect``, the :class:`~detector.predict.api.Detector`
API, the ONNX export check and the benchmarks all run models through a :class:`Predictor`, so a
change to pre-processing, decoding or NMS reaches every one of them. Nothing here imports
pycocotools.

    p = Predictor.from_model(model, conf_thres=0.25, nms="adaptive")
    x, metas = p.preprocess([bgr_image])          # letterbox, BGR->RGB, CHW: Tensor[B, 3, H, W] uint8
    dets = p.postprocess(p.forward(x))            # per image Tensor[K, 7] in network-input pixels
    dets = p.to_original(dets, metas)             # ... in original-image pixels
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.transforms import image_to_tensor, letterbox, normalize_images, scale_to_original
from ..ops.nms import DEFAULT_NMS, IOU_THRES, MAX_DET, PREDICT_CONF, non_max_suppression


@dataclass
class PostprocessOptions:
    conf_thres: float = PREDICT_CONF
    iou_thres: float = IOU_THRES
    nms: str = DEFAULT_NMS
    max_det: int = MAX_DET
    classes: list[int] | None = None
    agnostic: bool = False
    multi_label: bool = False


class Predictor:
    """``forward`` runs either a PyTorch model (raw outputs, decoded here) or an ONNX session (its
    graph already decodes); everything else is shared."""

    def __init__(self, forward_fn, stride: int, device: torch.device, dtype: torch.dtype = torch.float32,
                 img: int = 640, rect: bool = True, layout: dict[str, int] | None = None, **options):
        self._forward, self.stride, self.device, self.dtype = forward_fn, int(stride), device, dtype
        self.layout = layout  # the head's decoded columns ({"xyxy": 4, "cls": nc, "density": 1}); None: Detect's
        self.has_density = layout is None or "density" in layout
        self.img, self.rect = img, rect
        self.options = PostprocessOptions(**options)
        self.graph_nms: dict | None = None  # the baked NMS settings when the forward returns final detections
        self.warmed = False

    @classmethod
    def from_model(cls, model: torch.nn.Module, device: torch.device | None = None, half: bool = False,
                   **kw) -> "Predictor":
        """A model returning raw head outputs (``DetectionModel``); its own device unless given."""
        device = device or next(model.parameters()).device
        head = model.head

        def fwd(x: torch.Tensor) -> torch.Tensor:
            return head.decode(model(x)).float()

        return cls(fwd, int(model.stride.max()), device, torch.float16 if half else torch.float32,
                   layout=head.decoded_layout, **kw)

    @classmethod
    def from_exported(cls, exported, **kw) -> "Predictor":
        """An exported model (:func:`detector.runtime.model.open_exported`: ONNX, OpenVINO, ...). Its graph
        decodes (output [B, N, 4 + nc + 1]); with NMS in the graph it returns final detections, which
        :meth:`postprocess` only filters further (a higher ``conf_thres``, ``classes``, ``max_det``)."""
        def fwd(x: torch.Tensor) -> torch.Tensor:
            outs = exported(x.cpu().numpy())
            return torch.from_numpy(outs[0]).float()

        p = cls(fwd, exported.stride, torch.device("cpu"), layout=exported.layout, **kw)
        p.graph_nms = exported.graph_nms
        return p

    # ------------------------------------------------------------------ stages
    def input_shape(self, imgs: list[np.ndarray]) -> tuple[int, int]:
        """Network input (h, w) for a batch: ``img`` x ``img``, or with ``rect`` the smallest
        multiple of the stride that holds every image resized to a long side of ``img`` (a
        640x480 frame runs at 640x480 instead of 640x640)."""
        if not self.rect:
            return self.img, self.img
        s = self.stride
        hs, ws = zip(*[(round(h * self.img / max(h, w)), round(w * self.img / max(h, w)))
                       for h, w in (im.shape[:2] for im in imgs)])
        return -(-max(hs) // s) * s, -(-max(ws) // s) * s

    def preprocess(self, imgs: list[np.ndarray]) -> tuple[torch.Tensor, list[dict]]:
        """BGR images (HxWx3 uint8) -> (Tensor[B, 3, H, W] uint8 RGB, per-image letterbox meta)."""
        shape = self.input_shape(imgs)
        batch, metas = [], []
        for im in imgs:
            lb, ratio, pad = letterbox(im, shape, scaleup=True)
            batch.append(image_to_tensor(lb))
            metas.append({"orig_shape": im.shape[:2], "ratio": ratio, "pad": pad})
        return torch.stack(batch), metas

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B, 3, H, W] uint8 -> decoded Tensor[B, N, 4 + nc + 1] (float32): xyxy, class
        probabilities, density, in network-input pixels."""
        return self._forward(normalize_images(x.to(self.device, non_blocking=True), self.dtype))

    @property
    def needs_warmup(self) -> bool:
        """True on CUDA until :meth:`warmup` ran: the first forward there loads cuDNN/cuBLAS and builds
        kernel plans (about a second on an H100), which must not be counted as per-image speed."""
        return self.device.type == "cuda" and not self.warmed

    def warmup(self, x: torch.Tensor) -> None:
        """One untimed forward + NMS on ``x`` (Tensor[B, 3, H, W] uint8, a real batch: its shape's
        plans are the ones the timed pass needs)."""
        self.postprocess(self.forward(x))
        self.sync()
        self.warmed = True

    def sync(self) -> None:
        """Wait for the device, so that a host clock read after it times finished work (CUDA is asynchronous)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def postprocess(self, preds: torch.Tensor) -> list[torch.Tensor]:
        """Decoded predictions -> per image Tensor[K, 7] (x1, y1, x2, y2, score, class, density).
        With NMS in the graph, ``preds`` are its detections Tensor[B, max_det, 7] (zero rows past each
        image's count): filtering them by a higher confidence or by class gives exactly what NMS on the
        filtered boxes would (greedy and adaptive decide each box by higher-scored boxes only)."""
        o = self.options
        if self.graph_nms is not None:
            out = []
            for d in preds:
                keep = d[:, 4] > max(o.conf_thres, 0.0)
                if o.classes is not None:
                    keep &= torch.isin(d[:, 5].long(), torch.as_tensor(o.classes))
                out.append(d[keep][:o.max_det])
            return out
        return non_max_suppression(preds, o.conf_thres, o.iou_thres, method=o.nms, max_det=o.max_det,
                                   classes=o.classes, agnostic=o.agnostic, multi_label=o.multi_label,
                                   has_density=self.has_density, layout=self.layout)

    @staticmethod
    def to_original(dets: list[torch.Tensor], metas: list[dict]) -> list[torch.Tensor]:
        """Boxes of each Tensor[K, 7] from network-input to original-image pixels (clipped), on CPU."""
        out = []
        for d, m in zip(dets, metas):
            d = d.detach().cpu().float().clone()
            if len(d):
                d[:, :4] = scale_to_original(d[:, :4], m)
            out.append(d)
        return out

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Tensor[B, 3, H, W] uint8 -> per image Tensor[K, 7] in network-input pixels."""
        return self.postprocess(self.forward(x))
