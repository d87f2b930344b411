"""Detection loss: BCE classification against task-aligned soft targets, CIoU + DFL box
regression, density regression on positive locations; crowd regions ignored.

Density loss: BCE on the density logit against the soft target d in [0, 1] (default), or smooth-L1 on
sigmoid(logit) (``density_bce=False``). Measured on the synthetic demo: with smooth-L1 through the
sigmoid, predictions for crowded objects collapsed to ~0.02 (targets ~0.6; most objects are isolated,
and once the sigmoid saturates the crowded ones cannot pull it back), which makes adaptive NMS equal to
greedy; BCE's gradient on the logit (p - d) does not vanish. The density term is a plain mean over
positive locations, not weighted by the task-aligned scores as the box terms are: those weights are
~1e-4 for most positives (a few dominate), which left whole objects' densities untrained.

Each term is normalized by the sum of target scores (as in YOLOv8); the total is
``sum(gain_i * term_i) * batch_size`` (:func:`weighted_total`) so that gradient accumulation to a nominal
batch keeps the effective learning rate.

The loss speaks in named terms: :meth:`DetectionLoss.terms` returns ``{"box", "cls", "dfl", "density"}``
(unweighted, with gradients), ``gains`` says how each is weighted. The trainer sums whatever terms exist
(callbacks may add their own through ``on_loss``, e.g. distillation), and the progress bar, results.csv,
TensorBoard and plots show them by name.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import complete_box_iou_loss

from ..ops.decode import dfl_to_distance, distance_to_xyxy, flatten_levels, make_anchors, split_columns, split_outputs, \
    xyxy_to_distance
from ..hyp import AssignerHyp, LossHyp, group_of
from .assigner import TaskAlignedAssigner
from .density import density_targets

DEFAULT_GAINS = {k: v for k, v in group_of({}, LossHyp).items() if k in ("box", "cls", "dfl", "density")}


def pad_targets(targets: torch.Tensor, batch_size: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensor[T, 1 + cols] (batch index first) -> (Tensor[B, M, cols], mask Tensor[B, M] bool)."""
    dev = targets.device
    if targets.numel() == 0:
        return torch.zeros(batch_size, 0, cols, device=dev), torch.zeros(batch_size, 0, dtype=torch.bool, device=dev)
    bi = targets[:, 0].long()
    counts = torch.bincount(bi, minlength=batch_size)
    M = int(counts.max())
    out = torch.zeros(batch_size, M, cols, device=dev)
    mask = torch.zeros(batch_size, M, dtype=torch.bool, device=dev)
    order = torch.argsort(bi, stable=True)
    bi_sorted = bi[order]
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(len(bi), device=dev) - starts[bi_sorted]
    out[bi_sorted, pos] = targets[order, 1:]
    mask[bi_sorted, pos] = True
    return out, mask


def dfl_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss (Li et al., GFL, NeurIPS 2020).

    logits: Tensor[K, 4, R]; target: Tensor[K, 4] distances in bins (0 <= t < R - 1) -> Tensor[K].
    """
    tl = target.long()
    wl = (tl + 1).float() - target
    wr = 1 - wl
    R = logits.shape[-1]
    lp = F.log_softmax(logits.float(), -1).view(-1, R)
    left = -lp.gather(1, tl.view(-1, 1)).view(tl.shape)
    right = -lp.gather(1, (tl + 1).clamp(max=R - 1).view(-1, 1)).view(tl.shape)
    return (left * wl + right * wr).mean(-1)


def weighted_total(terms: dict[str, torch.Tensor], gains: dict[str, float], batch_size: int) -> torch.Tensor:
    """``sum(gain * term) * batch_size`` over the named terms, in their order; a term without a gain counts once."""
    return sum(gains.get(k, 1.0) * v for k, v in terms.items()) * batch_size


class DetectionLoss:
    def __init__(self, strides: torch.Tensor, nc: int, reg_max: int = 16, gains: dict | None = None,
                 topk: int = AssignerHyp.tal_topk, alpha: float = AssignerHyp.tal_alpha,
                 beta: float = AssignerHyp.tal_beta, density_per_class: bool = LossHyp.density_per_class,
                 density_bce: bool = LossHyp.density_bce, ciou_assign: bool = AssignerHyp.tal_ciou,
                 layout: dict[str, int] | None = None, branch: str = ""):
        self.strides = strides
        self.layout = dict(layout) if layout else None
        self.branch = branch  # "" reads box/cls/density; "_o2o" reads box_o2o/cls_o2o (no density) and names
        # its terms box_o2o, cls_o2o, dfl_o2o
        self.nc, self.reg_max = nc, reg_max
        self.gains = {k + branch: v for k, v in {**DEFAULT_GAINS, **(gains or {})}.items()
                      if not (branch and k == "density")}
        self.assigner = TaskAlignedAssigner(topk, alpha, beta, ciou=ciou_assign)
        self.density_per_class = density_per_class
        self.density_bce = density_bce

    @property
    def raw_layout(self) -> dict[str, int]:
        """The raw channels, by name (the ``Detect`` head's ``raw_layout``; this loss reads ``box``, ``cls``
        and ``density``, and leaves any other, e.g. YOLO26's one-to-one branch, untrained)."""
        return self.layout or {"box": 4 * self.reg_max, "cls": self.nc, "density": 1}

    @classmethod
    def from_hyp(cls, hyp: dict, strides: torch.Tensor, nc: int, reg_max: int = 16,
                 layout: dict[str, int] | None = None, branch: str = "", topk: int | None = None) -> "DetectionLoss":
        """Built from a flat hyperparameter dict (``load_hyp``); missing keys take the defaults; ``topk``
        overrides the assigner's (1: one-to-one assignment)."""
        lh, ah = group_of(hyp, LossHyp), group_of(hyp, AssignerHyp)
        return cls(strides, nc, reg_max, gains={k: lh[k] for k in DEFAULT_GAINS}, topk=topk or int(ah["tal_topk"]),
                   alpha=ah["tal_alpha"], beta=ah["tal_beta"], density_per_class=bool(lh["density_per_class"]),
                   density_bce=bool(lh["density_bce"]), ciou_assign=bool(ah["tal_ciou"]), layout=layout,
                   branch=branch)

    def __call__(self, raw: list[torch.Tensor], targets: torch.Tensor, crowd: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total loss: :func:`weighted_total` of the terms, {name: detached term}); arguments as :meth:`terms`."""
        terms = self.terms(raw, targets, crowd)
        return weighted_total(terms, self.gains, raw[0].shape[0]), {k: v.detach() for k, v in terms.items()}

    def terms(self, raw: list[torch.Tensor], targets: torch.Tensor, crowd: torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
        """raw: model outputs; targets: Tensor[T, 6] (batch index, class, x1, y1, x2, y2) in input pixels;
        crowd: Tensor[K, 5] (batch index, x1, y1, x2, y2). Returns the unweighted terms
        ``{"box": CIoU, "cls": BCE, "dfl": DFL, "density": density}`` (scalar tensors with gradients)."""
        R = self.reg_max
        B = raw[0].shape[0]
        flat = flatten_levels(raw)
        parts = split_columns(flat, self.raw_layout)
        b = self.branch
        box_logits, cls_logits, dens_logits = parts["box" + b], parts["cls" + b], parts["density"]
        points, stride = make_anchors([r.shape[-2:] for r in raw], self.strides, device=flat.device, dtype=flat.dtype)
        pd_dist = dfl_to_distance(box_logits, R)
        pd_boxes = distance_to_xyxy(pd_dist, points) * stride  # [B, N, 4] pixels
        points_px = points * stride

        gt, gt_mask = pad_targets(targets.to(flat.device, flat.dtype), B, 5)
        gt_labels, gt_boxes = gt[..., 0].long(), gt[..., 1:]
        crowd_boxes = crowd_mask = None
        if crowd is not None and crowd.numel():
            crowd_boxes, crowd_mask = pad_targets(crowd.to(flat.device, flat.dtype), B, 4)
        labels, t_boxes, t_scores, fg, gt_idx, ignore = self.assigner(
            cls_logits.detach().sigmoid(), pd_boxes.detach(), points_px, gt_labels, gt_boxes, gt_mask,
            crowd_boxes, crowd_mask)
        tss = t_scores.sum().clamp(min=1.0)

        bce = F.binary_cross_entropy_with_logits(cls_logits.float(), t_scores.float(), reduction="none")
        loss_cls = (bce * (~ignore)[..., None]).sum() / tss

        zero = flat.new_zeros(())
        loss_box = loss_dfl = loss_dens = zero
        if fg.any():
            w = t_scores.sum(-1)[fg]
            loss_box = (complete_box_iou_loss(pd_boxes[fg].float(), t_boxes[fg].float(), reduction="none") * w).sum() / tss
            t_dist = xyxy_to_distance(t_boxes / stride, points, R)[fg]
            if R == 1:  # direct distances (YOLO26's head): L1 in grid units in place of DFL
                per_box = (box_logits[fg].float() - t_dist.float()).abs().mean(-1)
            else:
                per_box = dfl_loss(box_logits[fg].view(-1, 4, R), t_dist)
            loss_dfl = (per_box * w).sum() / tss
            if b:  # the one-to-one branch has no density output
                return {"box" + b: loss_box, "cls" + b: loss_cls, "dfl" + b: loss_dfl}
            d_gt = density_targets(gt_boxes, gt_mask, gt_labels, self.density_per_class)
            d_t = d_gt.gather(1, gt_idx)[fg]
            d_logit = dens_logits[..., 0][fg].float()
            if self.density_bce:
                per = F.binary_cross_entropy_with_logits(d_logit, d_t, reduction="none")
            else:
                per = F.smooth_l1_loss(d_logit.sigmoid(), d_t, reduction="none", beta=0.1)
            loss_dens = per.mean()  # every positive alike: alignment weights are ~0 for most of them
        if b:
            return {"box" + b: loss_box, "cls" + b: loss_cls, "dfl" + b: loss_dfl}
        return {"box": loss_box, "cls": loss_cls, "dfl": loss_dfl, "density": loss_dens}
