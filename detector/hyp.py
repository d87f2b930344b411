"""Training hyperparameters, one typed structure and the single place of every default.

Groups: :class:`OptimHyp` (optimizer, warmup, clipping), :class:`LossHyp` (loss gains and the density
term), :class:`AssignerHyp` (task-aligned assignment), :class:`AugmentHyp` (augmentation),
:class:`EMAHyp`, :class:`DistillHyp` (knowledge distillation, with ``--teacher``). The dataset, the loss, the assigner and the optimizer read their defaults from here;
hyperparameter YAMLs (``cfg/hyp/*.yaml``, checked against :data:`DEFAULT_HYP` by a test) stay flat,
as in YOLOv5/Ultralytics, and :func:`group_of` picks one group out of them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class OptimHyp:
    lr0: float = 0.01  # initial learning rate (SGD; AdamW users usually want ~0.001)
    lrf: float = 0.01  # final lr = lr0 * lrf
    momentum: float = 0.937  # SGD momentum / Adam beta1
    weight_decay: float = 0.0005  # at the nominal batch (scaled by the batch actually stepped)
    nbs: int = 64  # nominal batch: gradients are accumulated up to it
    warmup_epochs: float = 3.0  # at least 100 batches (as Ultralytics): on small data 1 and 3 are the same
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    warmup_accumulate: bool = True  # accumulate 1 batch per step at first, nbs/batch at warmup end
    grad_clip: float = 10.0  # max gradient norm


@dataclass(frozen=True)
class LossHyp:
    box: float = 7.5  # CIoU box loss gain
    cls: float = 0.5  # classification BCE gain
    dfl: float = 1.5  # distribution focal loss gain
    density: float = 1.0  # crowd-density loss gain (adaptive NMS)
    density_per_class: bool = False  # density from same-class neighbours only
    density_bce: bool = True  # BCE on the density logit (False: smooth-L1 on the sigmoid, the paper's form)


@dataclass(frozen=True)
class AssignerHyp:
    tal_topk: int = 10  # candidates per ground truth
    tal_alpha: float = 0.5  # alignment = score^alpha * overlap^beta
    tal_beta: float = 6.0
    tal_ciou: bool = False  # CIoU overlap (as Ultralytics' YOLOv8) instead of IoU: no gain measured (assigner.py)


@dataclass(frozen=True)
class AugmentHyp:
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    shear: float = 0.0
    fliplr: float = 0.5
    mosaic: float = 1.0
    mixup: float = 0.0
    close_mosaic: int = 10  # mosaic off for the last N epochs
    copy_paste: float = 0.0  # probability that an image gets instances pasted (needs masks; data/copy_paste.py)
    copy_paste_n: int = 6  # at most this many instances pasted into one image
    copy_paste_near: float = 0.0  # probability that a paste goes beside an object of its class (IoU 0.3-0.8)
    copy_paste_amodal: bool = False  # occluded objects keep their full box (else: the visible mask's extent)


@dataclass(frozen=True)
class DistillHyp:
    distill_feature: float = 2.0  # neck-feature distillation gain (--teacher with --distill feature/both)
    distill_cls: float = 0.5  # class-score distillation gain, as cls (--distill logit/both; the heads must match)
    distill_box: float = 1.0  # localisation distillation gain (KL of the DFL box distributions)
    distill_tau: float = 1.0  # temperature of the channel-wise (cwd) and box-distribution KL
    distill_fraction: float = 1.0  # share of each batch the teacher sees (its first images): < 1 trades signal for time
    distill_final: float = 1.0  # the distillation gains' factor at the last epoch, linear from 1 at the first (as lrf)


@dataclass(frozen=True)
class EMAHyp:
    ema_decay: float = 0.9999
    ema_tau: float = 2000.0  # decay ramp: decay * (1 - exp(-updates / tau))


GROUPS = {"optim": OptimHyp, "loss": LossHyp, "assigner": AssignerHyp, "aug": AugmentHyp, "ema": EMAHyp,
          "distill": DistillHyp}


DEFAULT_HYP: dict = {k: v for kind in GROUPS.values() for k, v in asdict(kind()).items()}
"""Every hyperparameter with its default, flat (what cfg/hyp/default.yaml lists)."""

HYP_BEFORE: dict = {"warmup_accumulate": False}
"""Hyperparameters added later whose default changed what training does: the value that reproduces a run
recorded before the key existed (read by ``load_hyp(..., before_keys=True)`` for older ablation projects)."""


def group_of(d: dict, kind: type) -> dict:
    """The keys of one group from a flat dict, defaults filled in: ``group_of(hyp, AugmentHyp)``."""
    return {f.name: d.get(f.name, f.default) for f in fields(kind)}
