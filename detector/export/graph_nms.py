"""NMS as graph operations, for exports that run without our Python post-processing.

Both modules take the head's decoded predictions and return fixed-size detections::

    dets, num = GreedyGraphNMS(nc, ...)(preds)    # preds Tensor[B, N, 4 + nc (+ 1 density)]
    dets: Tensor[B, max_det, 7]  x1, y1, x2, y2, score, class, density; rows past num[b] are zeros
    num:  Tensor[B] int64        valid rows per image

They follow :func:`detector.ops.nms.non_max_suppression` (one label per box: its best class; boxes scored
``conf`` or below dropped; class-aware; ``max_det`` best kept), so an exported graph gives the detections our
Python path gives on the same decoded predictions:

- :class:`GreedyGraphNMS` exports to the ONNX ``NonMaxSuppression`` operator (batched, per class), which
  OpenVINO, TensorRT and onnxruntime implement natively.
- :class:`AdaptiveGraphNMS` is adaptive NMS (Liu et al., CVPR 2019) in plain tensor operations: the
  ``max_candidates`` best boxes, their pairwise IoU, per-box thresholds ``max(iou, density)``, and the
  Cluster-NMS fixed point ``keep[j] = not any_i<j (keep[i] and IoU(i, j) > thr_i)`` iterated until it stops
  changing (an ONNX ``Loop`` with an exit condition, at most ``max_candidates`` rounds). That fixed point is
  exactly the sequential result (see :mod:`detector.ops.nms.algorithms`), so the graph equals our Python
  adaptive NMS whenever at most ``max_candidates`` boxes clear ``conf``.
"""
from __future__ import annotations

import functools
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

from ..ops.boxes import batched_box_iou
from ..ops.decode import column_slices
from ..registry import Registry


#: ``--nms-in-graph`` choices: name -> a module (nc, has_density, conf, iou, max_det) mapping decoded
#: predictions to (dets [B, max_det, 7], num [B])
GRAPH_NMS = Registry("graph NMS method")


class _NonMaxSuppressionOp(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (opset >= 11): boxes Tensor[B, N, 4] xyxy, scores Tensor[B, C, N] ->
    selected Tensor[K, 3] int64 rows (batch, class, box). Run in PyTorch (and while tracing) through
    ``torchvision.ops.batched_nms`` with the operator's rules: a box is kept when its score is above
    ``score_threshold`` and no kept box of its class overlaps it by more than ``iou_threshold``."""

    @staticmethod
    def forward(ctx, boxes, scores, max_per_class, iou_threshold, score_threshold):  # noqa: D102
        rows = []
        for b in range(boxes.shape[0]):
            c, i = (scores[b] > score_threshold).nonzero(as_tuple=True)
            keep = batched_nms(boxes[b, i], scores[b, c, i], c, float(iou_threshold))
            kc, ki = c[keep], i[keep]
            # at most max_per_class per class, best first (keep is in decreasing score order)
            rank = torch.zeros_like(kc)
            for cls in kc.unique():
                m = kc == cls
                rank[m] = torch.arange(int(m.sum()), device=kc.device)
            sel = rank < int(max_per_class)
            rows.append(torch.stack([torch.full_like(ki[sel], b), kc[sel], ki[sel]], 1))
        return torch.cat(rows) if rows else torch.zeros(0, 3, dtype=torch.int64)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou_threshold, score_threshold):  # noqa: D102
        return g.op("NonMaxSuppression", boxes, scores, max_per_class, iou_threshold, score_threshold,
                    center_point_box_i=0)


def _fixed_point(sup: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """sup Tensor[B, K, K] float (1 where i < j and i would suppress j), alive Tensor[B, K] bool ->
    keep Tensor[B, K] bool: the sequential NMS result, iterated to its fixed point (scripted so that
    the export holds a Loop with an exit condition rather than a fixed number of unrolled rounds)."""
    keep = alive
    for _ in range(sup.shape[1]):
        new = torch.logical_and(alive, torch.bmm(keep.float().unsqueeze(1), sup).squeeze(1) <= 0.0)
        if bool((new != keep).sum() == 0):
            break
        keep = new
    return keep


@functools.lru_cache(maxsize=None)
def _scripted_fixed_point():
    """:func:`_fixed_point` scripted once, on first use (torch warns that scripting is deprecated; the
    TorchScript ONNX exporter still needs it to write a Loop)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.script(_fixed_point)


def _take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows of each image: x Tensor[B, N, ...], idx Tensor[B, K] int64 -> Tensor[B, K, ...]. One flat Gather
    (not GatherElements, whose shape rules runtimes read differently)."""
    flat = idx + torch.arange(idx.shape[0], device=idx.device).unsqueeze(1) * x.shape[1]
    return x.flatten(0, 1)[flat]


class _GraphNMS(nn.Module):
    """Shared split of the decoded predictions and gathering of the kept rows."""

    def __init__(self, nc: int, has_density: bool = True, conf: float = 0.25, iou: float = 0.7, max_det: int = 300):
        super().__init__()
        self.nc, self.has_density = int(nc), bool(has_density)
        self.conf, self.iou, self.max_det = float(conf), float(iou), int(max_det)

    def split(self, preds: torch.Tensor):
        """Tensor[B, N, 4 + nc (+1)] -> boxes [B, N, 4], class probs [B, N, nc], score [B, N], label [B, N],
        density [B, N]."""
        col = column_slices({"xyxy": 4, "cls": self.nc, **({"density": 1} if self.has_density else {})})
        boxes, cls = preds[..., col["xyxy"]], preds[..., col["cls"]]
        dens = preds[..., col["density"].start] if self.has_density else torch.zeros_like(preds[..., 0])
        score, label = cls.max(-1)
        return boxes, cls, score, label, dens

    def gather(self, kept: torch.Tensor, boxes, label, dens) -> tuple[torch.Tensor, torch.Tensor]:
        """kept Tensor[B, M] scores of kept boxes (0 elsewhere), boxes [B, M, 4], label / dens [B, M] ->
        (dets Tensor[B, max_det, 7], num Tensor[B] int64), best first."""
        vals, idx = F.pad(kept, (0, self.max_det)).topk(self.max_det, dim=1)  # padding: max_det always exists
        valid = vals > 0
        idx = torch.where(valid, idx, torch.zeros_like(idx))
        b = _take(boxes, idx)
        cols = [b, vals.unsqueeze(-1), _take(label, idx).unsqueeze(-1).to(b.dtype), _take(dens, idx).unsqueeze(-1)]
        dets = torch.cat(cols, -1) * valid.unsqueeze(-1).to(b.dtype)
        return dets, valid.sum(1)


@GRAPH_NMS.register("greedy")
class GreedyGraphNMS(_GraphNMS):
    """Class-aware greedy NMS through the ONNX ``NonMaxSuppression`` operator (see the module docstring)."""

    def forward(self, preds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, cls, score, label, dens = self.split(preds)
        one = F.one_hot(label, self.nc).to(cls.dtype) if self.nc > 1 else torch.ones_like(cls)
        per_class = (cls * one).transpose(1, 2).contiguous()  # [B, nc, N]: each box scored for its best class only
        sel = _NonMaxSuppressionOp.apply(boxes.float().contiguous(), per_class.float(),
                                         torch.tensor([self.max_det], dtype=torch.int64),
                                         torch.tensor([self.iou], dtype=torch.float32),
                                         torch.tensor([self.conf], dtype=torch.float32))
        b, i = sel[:, 0], sel[:, 2]
        kept = torch.zeros_like(score).index_put((b, i), score[b, i])
        return self.gather(kept, boxes, label, dens)


@GRAPH_NMS.register("adaptive")
class AdaptiveGraphNMS(_GraphNMS):
    """Adaptive NMS in tensor operations (see the module docstring); ``max_candidates`` bounds the pairwise
    work (Tensor[B, K, K] per image batch)."""

    def __init__(self, nc: int, has_density: bool = True, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                 max_candidates: int = 1024):
        super().__init__(nc, has_density, conf, iou, max_det)
        self.max_candidates = int(max_candidates)

    def forward(self, preds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, _, score, label, dens = self.split(preds)
        k = self.max_candidates
        sv, si = F.pad(score, (0, k)).topk(k, dim=1)  # best first; padding makes k available at any N
        alive = sv > self.conf
        si = torch.where(alive, si, torch.zeros_like(si))
        cb, cl, cd = _take(boxes, si), _take(label, si), _take(dens, si)
        thr = torch.clamp(cd, min=self.iou)  # a kept box suppresses above max(iou, its density)
        over = batched_box_iou(cb, cb) > thr.unsqueeze(-1)
        same = cl.unsqueeze(-1) == cl.unsqueeze(1)
        ar = torch.arange(k, device=cb.device)
        later = (ar.unsqueeze(1) < ar.unsqueeze(0)).unsqueeze(0)  # i < j: only higher-scored boxes suppress
        sup = (over & same & later & alive.unsqueeze(-1)).to(cb.dtype)
        keep = _scripted_fixed_point()(sup, alive)
        return self.gather(torch.where(keep, sv, torch.zeros_like(sv)), cb, cl, cd)

