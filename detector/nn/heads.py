"""Anchor-free decoupled detection head with DFL box regression and a density branch.

Box regression as distribution focal loss bins (Li et al., "Generalized Focal Loss",
NeurIPS 2020); decoupled box/class branches as YOLOX/YOLOv8. The extra 1-channel
*density* branch predicts, per location, the crowd density of the object there
(its max IoU with any other object), which adaptive NMS (Liu, Huang, Wang,
"Adaptive NMS: Refining Pedestrian Detection in a Crowd", CVPR 2019) uses as
the per-box suppression threshold.

Where the density is read (``density=``):
- ``"shared"`` (default): a 1x1 conv on the box branch's features. Cheap, but the density loss then
  shapes the features localisation uses, and calibrating it (a higher loss gain) costs mAP
  (docs/results/ablation.md, "NMS methods").
- ``"own"``: its own small branch on the *detached* neck feature, a 3x3 conv to 8 channels and a 5x5
  readout (the paper's density subnet also reads a 5x5 window: density depends on the neighbours). Its
  loss trains only that branch, so detection is left exactly as without it; +0.08 GFLOPs@640 at n scale.
- ``"pred"``: as the paper's density subnet, it reads the detector's own predictions around each cell:
  the detached neck feature together with the detached box distances (DFL expectations, ltrb in
  stride units / reg_max) and class probabilities, through a 3x3 conv to 16 channels, a 5x5 conv and a
  5x5 readout (reach 5 cells). A neighbour's predicted box is in the input, so "how much does another
  object overlap mine" can be read rather than inferred; its loss, too, trains only the branch.

The head returns raw outputs. It is also the one place that knows what they mean (the head protocol,
:data:`HEAD_PROTOCOL`): ``raw_layout`` names the raw channels and ``split_raw(raw)`` cuts them by those names
(what the loss and distillation read); ``decode(raw)`` turns them into boxes, scores and densities
(``detector.ops.decode``) and ``decoded_layout`` names the decoded columns (what NMS, graph NMS, export and
the predictor read); ``build_loss(hyp)`` gives the loss that trains it (``detector.loss``), whose named terms
the trainer sums. ``DetectionModel`` checks the protocol, not the class, so a new head is one class with
these members, registered like any block.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..loss.detection_loss import DetectionLoss
from ..loss.end2end_loss import EndToEndLoss
from ..ops.decode import decode_outputs, flatten_levels, split_columns
from ..registry import MODULES
from .base import LayerContext
from .conv import Conv


#: What every head provides (checked by ``DetectionModel`` when it is built): see the module docstring.
HEAD_PROTOCOL = ("raw_layout", "split_raw", "decode", "decoded_layout", "build_loss", "stride", "nc")


def missing_head_members(m: nn.Module) -> list[str]:
    """The members of :data:`HEAD_PROTOCOL` that ``m`` lacks (empty: ``m`` is a head)."""
    return [a for a in HEAD_PROTOCOL if not hasattr(type(m), a) and not hasattr(m, a)]


@MODULES.register()
class Detect(nn.Module):
    """Per level l: Tensor[B, 4*reg_max + nc + 1, H_l, W_l] with channels
    ``[box DFL logits (4*reg_max, ltrb-major) | class logits (nc) | density logit (1)]``.

    YAML: ``[[p3, p4, p5], 1, Detect, [nc, reg_max=16, density="shared", cls_branch="conv", end2end=False,
    cls_width=None]]``
    (or one multi-output node as ``from``); ``density``: ``"shared"``, ``"own"`` or ``"pred"`` (module
    docstring); ``cls_branch``: ``"conv"`` (two 3x3 convs, YOLOv8) or ``"dw"`` (depthwise + pointwise pairs,
    YOLO11/YOLO26); ``reg_max=1``: the box channels are the four distances themselves (YOLO26, no DFL);
    ``end2end``: a second, one-to-one box and class branch (YOLO26) whose channels follow the density
    (``box_o2o``, ``cls_o2o``), read by the NMS-free method ``--nms none``. ``cls_width``: the class branch's
    hidden width (default ``max(ch[0], min(nc, 100))``, as Ultralytics builds it; a model it fine-tuned to fewer
    classes keeps its source's width, which a converted file states here).
    ``stride`` (Tensor[nl]) is filled in by the model builder from a dummy forward.
    """

    DENSITY_MODES = ("shared", "own", "pred")
    CLS_BRANCHES = ("conv", "dw")

    def __init__(self, nc: int, ch: list[int], reg_max: int = 16, density: str = "shared", cls_branch: str = "conv",
                 end2end: bool = False, cls_width: int | None = None):
        super().__init__()
        if not isinstance(nc, int) or nc < 1:
            raise ValueError(f"nc must be a positive integer, got {nc!r}")
        if not isinstance(reg_max, int) or reg_max < 1:
            raise ValueError(f"reg_max must be a positive integer, got {reg_max!r}")
        if density not in self.DENSITY_MODES:
            raise ValueError(f"density must be one of {list(self.DENSITY_MODES)}, got {density!r}")
        if cls_branch not in self.CLS_BRANCHES:
            raise ValueError(f"cls_branch must be one of {list(self.CLS_BRANCHES)}, got {cls_branch!r}")
        self.density_mode, self.cls_branch, self.end2end = density, cls_branch, bool(end2end)
        self.nc, self.reg_max, self.nl = nc, reg_max, len(ch)
        self.no = sum(self.raw_layout.values())
        c2 = max(16, ch[0] // 4, reg_max * 4)
        if cls_width is not None and (not isinstance(cls_width, int) or cls_width < 1):
            raise ValueError(f"cls_width must be a positive integer or null, got {cls_width!r}")
        c3 = cls_width or max(ch[0], min(nc, 100))
        self.box_stem, self.box_pred = self._box_branch(ch, c2)
        if density == "own":
            self.density_pred = nn.ModuleList(nn.Sequential(Conv(c, 8, 3), nn.Conv2d(8, 1, 5, padding=2))
                                              for c in ch)
        elif density == "pred":
            self.density_pred = nn.ModuleList(nn.Sequential(Conv(c + 4 + nc, 16, 3), Conv(16, 16, 5),
                                                            nn.Conv2d(16, 1, 5, padding=2)) for c in ch)
        else:
            self.density_pred = nn.ModuleList(nn.Conv2d(c2, 1, 1) for _ in ch)
        self.cls = self._cls_branch(ch, c3)  # built in this order so that a seed gives the weights it always gave
        if self.end2end:  # YOLO26's one-to-one branch: its own copy of the box and class branches
            self.box_stem_o2o, self.box_pred_o2o = self._box_branch(ch, c2)
            self.cls_o2o = self._cls_branch(ch, c3)
        self.register_buffer("stride", torch.zeros(self.nl))

    @staticmethod
    def args_with_cls_width(args: list, width: int) -> list:
        """A Detect layer's YAML ``args`` with ``cls_width`` set (the ones before it filled with their defaults)."""
        return list(args[:5]) + [16, "shared", "conv", False][len(args) - 1:] + [int(width)]

    def _box_branch(self, ch: list[int], c2: int) -> tuple[nn.ModuleList, nn.ModuleList]:
        """Box stem (two 3x3 convs) and box predictor of every level."""
        box_stem = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3)) for c in ch)
        return box_stem, nn.ModuleList(nn.Conv2d(c2, 4 * self.reg_max, 1) for _ in ch)

    def _cls_branch(self, ch: list[int], c3: int) -> nn.ModuleList:
        """Class branch of every level: two 3x3 convs, or (``cls_branch='dw'``) YOLO11's depthwise 3x3 +
        pointwise 1x1 pairs; then a 1x1 to the classes."""
        if self.cls_branch == "dw":
            return nn.ModuleList(nn.Sequential(nn.Sequential(Conv(c, c, 3, g=c), Conv(c, c3, 1)),
                                               nn.Sequential(Conv(c3, c3, 3, g=c3), Conv(c3, c3, 1)),
                                               nn.Conv2d(c3, self.nc, 1)) for c in ch)
        return nn.ModuleList(nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, self.nc, 1)) for c in ch)

    def forward(self, xs: list[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
        if isinstance(xs, torch.Tensor):  # fed a single layer: one level
            xs = [xs]
        out = []
        for i, x in enumerate(xs):
            f = self.box_stem[i](x)
            box, cls = self.box_pred[i](f), self.cls[i](x)
            if self.density_mode == "pred":
                b, _, h, w = box.shape
                bins = torch.arange(self.reg_max, device=box.device, dtype=box.dtype)
                dist = (box.detach().view(b, 4, self.reg_max, h, w).softmax(2) * bins.view(1, 1, -1, 1, 1)).sum(2)
                d = self.density_pred[i](torch.cat([x.detach(), dist / self.reg_max, cls.detach().sigmoid()], 1))
            else:
                d = self.density_pred[i](x.detach() if self.density_mode == "own" else f)
            parts = [box, cls, d]
            if self.end2end:  # the one-to-one branch reads detached features, as YOLO26 trains it
                xd = x.detach() if self.training else x
                parts += [self.box_pred_o2o[i](self.box_stem_o2o[i](xd)), self.cls_o2o[i](xd)]
            out.append(torch.cat(parts, 1))
        return out

    # ------------------------------------------------------------------ head protocol
    @property
    def raw_layout(self) -> dict[str, int]:
        """Channels of each level's raw output, in order: {name: width}."""
        o2o = {"box_o2o": 4 * self.reg_max, "cls_o2o": self.nc} if self.end2end else {}
        return {"box": 4 * self.reg_max, "cls": self.nc, "density": 1, **o2o}

    def split_raw(self, raw: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Raw outputs (this head's forward) -> {name: Tensor[B, N, width]} over all levels (``raw_layout``):
        what the loss and distillation read."""
        return split_columns(flatten_levels(raw), self.raw_layout)

    @property
    def decoded_layout(self) -> dict[str, int]:
        """Columns of :meth:`decode`'s output, in order: {name: width}."""
        o2o = {"xyxy_o2o": 4, "cls_o2o": self.nc} if self.end2end else {}
        return {"xyxy": 4, "cls": self.nc, "density": 1, **o2o}

    def decode(self, raw: list[torch.Tensor]) -> torch.Tensor:
        """Raw outputs (this head's forward) -> Tensor[B, N, 4 + nc + 1]: xyxy in input pixels, class
        probabilities, density (``decoded_layout``); with the one-to-one branch (``end2end``) its xyxy and
        class probabilities follow (Tensor[B, N, 4 + nc + 1 + 4 + nc])."""
        if not self.end2end:
            return decode_outputs(raw, self.stride, self.reg_max)
        k = 4 * self.reg_max + self.nc + 1
        many = decode_outputs([r[:, :k] for r in raw], self.stride, self.reg_max)
        one = decode_outputs([torch.cat([r[:, k:], r[:, k - 1:k]], 1) for r in raw], self.stride, self.reg_max)
        return torch.cat([many, one[..., :-1]], -1)

    def build_loss(self, hyp: dict | None = None) -> DetectionLoss | EndToEndLoss:
        """The loss that trains this head, from a flat hyperparameter dict (missing keys: defaults); it
        returns named terms (``DetectionLoss.terms``)."""
        if self.end2end:  # both branches: one-to-many (top-k) and one-to-one (top-1) assignment
            return EndToEndLoss.from_hyp(hyp or {}, self.stride, self.nc, self.reg_max, self.raw_layout)
        return DetectionLoss.from_hyp(hyp or {}, self.stride, self.nc, self.reg_max, layout=self.raw_layout)

    def initialize_biases(self, img_size: int = 640) -> None:
        """Priors: box logits flat, class prob ~5 objects per image over the level's cells,
        density logit 0 (p = 0.5, where the sigmoid passes the most gradient to the smooth-L1 density
        loss; a low prior such as -4 leaves the branch nearly untrainable). Needs ``stride`` set."""
        pairs = [(self.box_pred, self.cls)] + ([(self.box_pred_o2o, self.cls_o2o)] if self.end2end else [])
        for box_pred, cls in pairs:
            for bp, cl, s in zip(box_pred, cls, self.stride.tolist()):
                nn.init.constant_(bp.bias, 1.0)
                nn.init.constant_(cl[-1].bias, math.log(5 / self.nc / (img_size / s) ** 2))
        for dp in self.density_pred:
            nn.init.constant_((dp[-1] if isinstance(dp, nn.Sequential) else dp).bias, 0.0)

    @classmethod
    def from_yaml(cls, ctx: LayerContext, nc: int, reg_max: int = 16, density: str = "shared",
                  cls_branch: str = "conv", end2end: bool = False, cls_width: int | None = None):
        m = cls(nc, list(ctx.c_in), reg_max, density, cls_branch, bool(end2end), cls_width)
        return m, [m.no] * m.nl
