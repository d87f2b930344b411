"""Knowledge distillation: a frozen teacher's neck features and head outputs as extra training targets.

``tools/train.py --teacher T.pt [--distill auto|feature|logit|both] [--distill-loss pkd|cwd] [--distill-gain G]``.
The teacher is any checkpoint of ours (another scale or YAML) or an Ultralytics YOLOv8 / YOLO11 / YOLO26 ``.pt``
(read by the converter, never unpickled as code); it runs in eval mode, BatchNorm folded, without gradients, on the same
augmented batch as the student (and under the same autocast); with ``--distill feature`` only up to its
neck (its head is not run: about a third of its FLOPs saved). Its terms join the loss by name through the
trainer's ``on_loss`` hook, so they show in the progress bar and results.csv (``train/distill_*_loss``).

Terms (each weighted by its ``distill_*`` hyperparameter, :class:`~detector.hyp.DistillHyp`, times ``G``):

- ``distill_feature`` on the neck outputs (the head's inputs), level by level: each student map goes
  through a 1x1 projector to the teacher's width (identity-initialised when the widths agree), then
  ``pkd``: MSE / 2 of the maps normalised per channel to zero mean and unit variance (Cao et al., "PKD:
  General Distillation Framework for Object Detectors via Pearson Correlation Coefficient", NeurIPS
  2022; scale-free, so another family's or width's features compare), or ``cwd``: KL of each channel's
  spatial softmax (Shu et al., "Channel-wise Knowledge Distillation for Dense Prediction", ICCV 2021).
- ``distill_cls``: binary KL from the teacher's class probabilities to the student's, every location
  and class, normalised by the teacher's summed top scores (as the detection loss by target scores).
- ``distill_box``: localisation distillation (Zheng et al., "Localization Distillation for Dense Object
  Detection", CVPR 2022): KL between the teacher's and the student's DFL bin distributions of each side,
  weighted by the teacher's top class probability at the location.

Hyp ``distill_final`` < 1 fades the gains linearly over the epochs, from their full value at the first to
that factor at the last (as ``lrf`` for the learning rate): the teacher guides early, the labels decide late.
Hyp ``distill_fraction`` < 1 runs the teacher on only the first part of each (shuffled) batch and compares
the student there: the teacher's forward, most of the cost on a CPU, shrinks in proportion.

The logit terms need a head of the same layout (classes, ``reg_max``, levels). ``auto`` (the default) takes
them alone when the heads match, else the feature term: measured (docs/results/ablation.md), the logit terms
alone did at least as well as ``both`` in 6 of 6 paired seeds over two tasks, and the feature term alone
added nothing. ``both`` falls back to the feature term with a note when the heads differ, ``logit``
refuses. Only the student and the projectors learn: the projectors join the optimizer as a fourth parameter group and are saved in ``last.pt`` for
``--resume``; the exported / EMA model never contains them.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..hyp import DistillHyp, group_of
from ..ops.decode import flatten_levels, split_columns
from .callbacks.base import Callback
from ..checkpoint.file import CheckpointError, load_checkpoint, model_from_checkpoint
from .ema import unwrap

MODES = ("feature", "logit", "both")
CHOICES = ("auto", *MODES)  # --distill; auto: logit when the heads match, else feature
FEATURE_LOSSES = ("pkd", "cwd")
TERMS = ("distill_feature", "distill_cls", "distill_box")


class HeadInputs:
    """Keeps the inputs of a model's head from its last forward: the neck's output maps, finest first."""

    def __init__(self, model: nn.Module):
        self.feats: list[torch.Tensor] = []
        self.handle = model.head.register_forward_pre_hook(self._hook)

    def _hook(self, module, args) -> None:
        xs = args[0]
        self.feats = list(xs) if isinstance(xs, (list, tuple)) else [xs]

    def remove(self) -> None:
        self.handle.remove()


def pkd_loss(s: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Tensor[B, C, H, W] x2 -> MSE / 2 of the per-channel standardised maps (0 when ``s`` is an affine map
    of ``t`` per channel with positive scale; 1 for uncorrelated maps)."""
    def norm(x):
        x = x.float().transpose(0, 1).flatten(1)  # [C, B*H*W]
        return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + eps)
    return F.mse_loss(norm(s), norm(t)) / 2


def cwd_loss(s: torch.Tensor, t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Tensor[B, C, H, W] x2 -> channel-wise distillation: KL(softmax_HW(t / tau) || softmax_HW(s / tau)) * tau^2,
    summed over locations and averaged over batch and channels."""
    s, t = s.float().flatten(2) / tau, t.float().flatten(2) / tau
    kl = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), reduction="none", log_target=True).sum(-1)
    return kl.mean() * tau ** 2


def binary_kl_with_logits(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(Bernoulli(sigmoid(t)) || Bernoulli(sigmoid(s))): BCE(s, p_t) - BCE(t, p_t), >= 0, 0 at s = t."""
    p = t.sigmoid()
    return (F.binary_cross_entropy_with_logits(s, p, reduction="none")
            - F.binary_cross_entropy_with_logits(t, p, reduction="none"))


class Distiller(nn.Module):
    """The trainable part of distillation (the projectors) and the terms.

    ``forward(s_feats, t_feats, s_raw, t_raw)`` -> {term name: scalar Tensor}; feature maps are lists of
    Tensor[B, C_l, H_l, W_l] (student and teacher widths may differ), raw outputs the heads' raw lists
    (``t_raw`` may be None when no logit term is on: the teacher's head is then not run).
    """

    def __init__(self, s_channels: list[int], t_channels: list[int], mode: str = "both", feature_loss: str = "pkd",
                 logits: bool = True, reg_max: int = 16, tau: float = DistillHyp.distill_tau):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"--distill must be one of {MODES}, got {mode!r}")
        if feature_loss not in FEATURE_LOSSES:
            raise ValueError(f"--distill-loss must be one of {FEATURE_LOSSES}, got {feature_loss!r}")
        if len(s_channels) != len(t_channels):
            raise ValueError(f"the teacher's head reads {len(t_channels)} levels, the student's {len(s_channels)}")
        self.mode, self.feature_loss, self.reg_max, self.tau = mode, feature_loss, reg_max, tau
        self.split = None  # the student head's split_raw (set by Distillation); None: Detect's layout from reg_max
        self.use_features = mode in ("feature", "both")
        self.use_logits = mode in ("logit", "both") and logits
        self.projectors = nn.ModuleList()
        if self.use_features:
            for cs, ct in zip(s_channels, t_channels):
                p = nn.Conv2d(cs, ct, 1)
                if cs == ct:
                    nn.init.dirac_(p.weight)
                    nn.init.zeros_(p.bias)
                self.projectors.append(p)

    def forward(self, s_feats: list[torch.Tensor], t_feats: list[torch.Tensor], s_raw: list[torch.Tensor],
                t_raw: list[torch.Tensor] | None) -> dict[str, torch.Tensor]:
        out = {}
        if self.use_features:
            fn = pkd_loss if self.feature_loss == "pkd" else (lambda s, t: cwd_loss(s, t, self.tau))
            per = [fn(p(s.float()), t.detach()) for p, s, t in zip(self.projectors, s_feats, t_feats)]
            out["distill_feature"] = torch.stack(per).mean()
        if self.use_logits:
            out.update(self.logit_terms(s_raw, [r.detach() for r in t_raw]))
        return out

    def logit_terms(self, s_raw: list[torch.Tensor], t_raw: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        R = self.reg_max
        layout = {"box": 4 * R, "cls": s_raw[0].shape[1] - 4 * R - 1, "density": 1} if self.split is None else None
        s, t = ([r.float() for r in x] for x in (s_raw, t_raw))
        s, t = (self.split(x) if self.split is not None else split_columns(flatten_levels(x), layout) for x in (s, t))
        s_box, s_cls, t_box, t_cls = s["box"], s["cls"], t["box"], t["cls"]
        w = t_cls.sigmoid().amax(-1)  # [B, N] the teacher's confidence at each location
        norm = w.sum().clamp(min=1.0)
        cls = binary_kl_with_logits(s_cls, t_cls).sum() / norm
        B, N = w.shape
        ls = F.log_softmax(s_box.view(B, N, 4, R) / self.tau, -1)
        lt = F.log_softmax(t_box.view(B, N, 4, R) / self.tau, -1)
        kl = F.kl_div(ls, lt, reduction="none", log_target=True).sum(-1).mean(-1)  # [B, N]
        return {"distill_cls": cls, "distill_box": (kl * w).sum() / norm * self.tau ** 2}


def load_teacher(path: str, device: torch.device, memory_format=torch.contiguous_format) -> nn.Module:
    """Any checkpoint of ours or an Ultralytics YOLOv8 .pt -> the frozen teacher (EMA weights, eval mode,
    BatchNorm folded, no gradients)."""
    ck = load_checkpoint(path)
    teacher = model_from_checkpoint(ck, str(path), use_ema=True).eval().fuse()
    teacher.requires_grad_(False)
    return teacher.to(device).to(memory_format=memory_format)


def head_widths(model: nn.Module, img: int = 64) -> list[int]:
    """Channels of each map the head reads (one eval-mode forward on a blank image; state untouched)."""
    tap = HeadInputs(model)
    was_training = model.training
    p = next(model.parameters())
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, img, img, device=p.device, dtype=p.dtype))
    finally:
        model.train(was_training)
        tap.remove()
    return [f.shape[1] for f in tap.feats]


def heads_match(student: nn.Module, teacher: nn.Module) -> str | None:
    """None when the logit terms can compare the two heads, else why not."""
    hs, ht = student.head, teacher.head
    if hs.nc != ht.nc:
        return f"the teacher has {ht.nc} classes, the student {hs.nc}"
    if hs.reg_max != ht.reg_max:
        return f"reg_max {ht.reg_max} (teacher) vs {hs.reg_max} (student)"
    if hs.reg_max == 1:
        return "their heads predict box distances directly (reg_max 1, YOLO26): no bin distributions to distill"
    if getattr(hs, "raw_layout", None) != getattr(ht, "raw_layout", None):
        return f"raw layouts {list(ht.raw_layout)} (teacher) vs {list(hs.raw_layout)} (student)"
    if not torch.equal(hs.stride.cpu(), ht.stride.cpu()):
        return f"strides {ht.stride.tolist()} (teacher) vs {hs.stride.tolist()} (student)"
    return None


class Distillation(Callback):
    """Runs the teacher on each batch and adds the distillation terms (``on_loss``). Built by
    :meth:`Trainer.build_distiller` (``--teacher``)."""

    def __init__(self, trainer, teacher_path: str, mode: str = "auto", feature_loss: str = "pkd", gain: float = 1.0):
        if mode not in CHOICES:
            raise ValueError(f"--distill must be one of {CHOICES}, got {mode!r}")
        student = unwrap(trainer.model)
        try:
            self.teacher = load_teacher(teacher_path, trainer.device, trainer.memory_format)
        except (FileNotFoundError, CheckpointError) as e:
            raise CheckpointError(f"--teacher: {e}") from None
        why_not = heads_match(student, self.teacher)
        if mode == "auto":
            mode = "feature" if why_not else "logit"
            trainer.log(f"distillation: --distill auto -> {mode}" + (f" ({why_not})" if why_not else " (same head layout)"))
        if mode == "logit" and why_not:
            raise ValueError(f"--teacher {teacher_path}: --distill logit needs the same head layout ({why_not}); "
                             "use --distill feature")
        if mode == "both" and why_not:
            trainer.log(f"distillation: logit terms off ({why_not}); neck features only")
        s_ch, t_ch = head_widths(student), head_widths(self.teacher)
        if len(s_ch) != len(t_ch):
            raise ValueError(f"--teacher {teacher_path}: its head reads {len(t_ch)} levels, the student's {len(s_ch)}")
        hyp = group_of(trainer.hyp, DistillHyp)
        self.distiller = Distiller(s_ch, t_ch, mode, feature_loss, logits=why_not is None,
                                   reg_max=student.head.reg_max, tau=hyp["distill_tau"]).to(trainer.device)
        self.distiller.split = student.head.split_raw  # teacher and student heads match when logit terms are on
        self.gains = {k: hyp[k] * gain for k in TERMS}
        self.fraction, self.final = float(hyp["distill_fraction"]), float(hyp["distill_final"])
        if not 0 < self.fraction <= 1:
            raise ValueError(f"hyp distill_fraction must be in (0, 1], got {self.fraction:g}")
        if not self.final >= 0:
            raise ValueError(f"hyp distill_final must be >= 0, got {self.final:g}")
        self.student_tap, self.teacher_tap = HeadInputs(student), HeadInputs(self.teacher)
        self.module = self.distiller  # what the optimizer steps (DDP-wrapped on several processes)
        n_t = sum(p.numel() for p in self.teacher.parameters()) / 1e6
        terms = [t for t, on in (("feature", self.distiller.use_features), ("logit", self.distiller.use_logits)) if on]
        trainer.log(f"distillation from {teacher_path} ({n_t:.2f}M params, frozen): {' + '.join(terms)} "
                    f"({feature_loss if self.distiller.use_features else 'no features'}), gain {gain:g}"
                    f"{'' if self.final == 1 else f' fading to x{self.final:g} by the last epoch'}"
                    f"{'' if self.fraction == 1 else f', on {self.fraction:.0%} of each batch'}; "
                    f"teacher widths {t_ch}, student {s_ch}")

    @property
    def trainable_params(self) -> list[torch.nn.Parameter]:
        """The distiller's own weights (projectors); empty for logit-only distillation."""
        return list(self.distiller.parameters())

    def factor(self, epoch: int, epochs: int) -> float:
        """The gains' multiplier in ``epoch`` (0-based) of ``epochs``: 1 at the first, ``distill_final`` at the last."""
        return 1.0 + (self.final - 1.0) * epoch / max(1, epochs - 1)

    def on_train_start(self, trainer) -> None:
        trainer.loss_gains.update(self.gains)

    def on_epoch_start(self, trainer) -> None:
        f = self.factor(trainer.epoch, trainer.cfg.epochs)  # from the epoch alone: --resume continues the fade
        trainer.loss_gains.update({k: g * f for k, g in self.gains.items()})

    def on_loss(self, trainer, losses: dict) -> None:
        imgs, s_feats, s_raw = trainer.imgs, self.student_tap.feats, trainer.preds
        k = max(1, math.ceil(self.fraction * len(imgs)))
        if k < len(imgs):  # the teacher sees the first k images (the loader shuffles); the terms compare those
            imgs, s_feats, s_raw = imgs[:k], [f[:k] for f in s_feats], [r[:k] for r in s_raw]
        amp = trainer.amp_dtype
        with torch.no_grad(), torch.autocast(trainer.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            if self.distiller.use_logits:
                t_raw = self.teacher(imgs)
                t_feats = self.teacher_tap.feats
            else:  # features only: the teacher's head is never needed
                t_raw, t_feats = None, self.teacher.head_inputs(imgs)
        losses.update(self.module(s_feats, t_feats, s_raw, t_raw))
