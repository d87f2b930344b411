#!/usr/bin/env python3
"""Probe a model's crowd-density output: does it tell crowded objects from isolated ones?

  python tools/density_probe.py --weights runs/ablate/crowd/runs/yolo_ca_bifpn-s0/weights/last.pt \\
      --data cfg/data/crowd_person.yaml
  # refit the density readout alone on the frozen detector (AdamW), fresh 'own' readout 64 wide:
  python tools/density_probe.py --weights ... --data ... --fit-epochs 12 --readout own --width 64

For every positive location (the loss's task-aligned assignment, no augmentation) it compares the
predicted density with its target (the assigned ground truth's highest IoU with another box of the image,
``detector.loss.density_targets``) and prints the mean prediction per target bucket and their correlation,
on the train and val splits. With ``--fit-epochs N`` it first retrains only the density readout (the
checkpoint's, or a fresh ``--readout own|pred``) for N epochs on the train split with the training
augmentation, everything else frozen (BatchNorm statistics included), so the boxes do not change: this
separates "the readout has not had enough steps" from "the features do not carry crowdedness".
With ``--calibrate`` it then fits an affine recalibration of the density logit on the train split (the
crowded and the other positives' mean predictions matched to their mean targets, issue 24's calibration
target) and folds it into the readout, so ``--save`` writes a checkpoint tools/val.py can score.
Research diagnostic for docs/results/crowds.md; nothing is written but ``--save``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.data import DetectionDataset, build_dataloader, index_split, load_data_config  # noqa: E402
from detector.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint  # noqa: E402
from detector.train.hyp import load_hyp  # noqa: E402
from detector.loss.detection_loss import DetectionLoss, pad_targets  # noqa: E402
from detector.loss.density import density_targets  # noqa: E402
from detector.nn.conv import Conv  # noqa: E402
from detector.nn.heads import Detect  # noqa: E402

BUCKETS = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.01))


def fresh_readout(head: Detect, mode: str, width: int) -> None:
    """Replace ``head``'s density readout by an untrained one of ``mode`` ('own' / 'pred'); ``width`` > 0:
    for 'own', two ``width``-channel 3x3 convs before the 5x5 readout instead of one 8-channel conv."""
    ch = [stem[0].conv.in_channels for stem in head.box_stem]
    if mode == "own" and width:
        head.density_pred = nn.ModuleList(nn.Sequential(Conv(c, width, 3), Conv(width, width, 3),
                                                        nn.Conv2d(width, 1, 5, padding=2)) for c in ch)
    else:
        head.density_pred = Detect(head.nc, ch, head.reg_max, mode).density_pred
    head.density_mode = mode
    for dp in head.density_pred:
        nn.init.constant_(dp[-1].bias, 0.0)


def positives(model: nn.Module, loss: DetectionLoss, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted density, target) at the positive locations of one batch, both Tensor[P]."""
    captured = {}
    assign = loss.assigner

    def spy(*a, **k):
        captured["r"] = assign(*a, **k)
        return captured["r"]

    loss.assigner = spy
    try:
        x = batch["images"].float() / 255
        raw = model(x)
        loss.terms(raw, batch["targets"], batch["crowd"])
    finally:
        loss.assigner = assign
    _, _, _, fg, gt_idx, _ = captured["r"]
    dens = model.head.split_raw(raw)["density"]
    gt, gt_mask = pad_targets(batch["targets"], x.shape[0], 5)
    d_gt = density_targets(gt[..., 1:], gt_mask, gt[..., 0].long(), loss.density_per_class)
    return dens[..., 0][fg].sigmoid(), d_gt.gather(1, gt_idx)[fg]


@torch.no_grad()
def collect(model: nn.Module, loss: DetectionLoss, records, img: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted density, target) at every positive location of ``records`` (no augmentation), both [P]."""
    model.eval()
    loader, _ = build_dataloader(DetectionDataset(records, img, augment=False), batch, 0, shuffle=False)
    pairs = [positives(model, loss, b) for b in loader]
    return torch.cat([a for a, _ in pairs]).float(), torch.cat([b for _, b in pairs]).float()


def measure(model: nn.Module, loss: DetectionLoss, records, img: int, batch: int) -> dict:
    p, t = (v.numpy() for v in collect(model, loss, records, img, batch))
    spread = len(p) > 1 and p.std() > 0 and t.std() > 0
    out = {"positives": int(len(p)), "corr": float(np.corrcoef(p, t)[0, 1]) if spread else float("nan"),
           "mean_pred": float(p.mean()), "mean_target": float(t.mean())}
    for lo, hi in BUCKETS:
        s = (t >= lo) & (t < hi)
        out[f"{lo:.1f}-{min(hi, 1.0):.1f}"] = (int(s.sum()), float(p[s].mean()) if s.any() else float("nan"))
    out.update(separation(p, t))
    return out


def separation(p: np.ndarray, t: np.ndarray, crowded: float = 0.5, isolated: float = 0.1,
               tolerance: float = 0.10) -> dict:
    """How well the predictions ``p`` [P] rank crowded positives (target ``t`` >= ``crowded``) above the
    rest, and what that ranking allows at best: ``auc`` (crowded vs rest; ``auc_isolated``: vs targets <
    ``isolated``), and ``floor_rest`` / ``floor_isolated``, the lowest mean density on the rest / on the
    isolated that *any* monotone recalibration of ``p`` can give while the crowded mean reaches its target
    mean less ``tolerance`` (issue 24's calibration target). By Neyman-Pearson the best such map is a step
    (1 above a threshold, 0 below, a fraction at a tie), so the floor is the false-positive rate at that
    true-positive rate."""
    pos = p[t >= crowded]
    out = {}
    # the step: it passes `need` crowded, cut at the need-th highest (a tie there passes a fraction)
    need = min(max(float(t[t >= crowded].mean()) - tolerance, 0.0), 1.0) * len(pos) if len(pos) else 0.0
    th = np.sort(pos)[::-1][int(np.ceil(need)) - 1] if need > 0 else np.inf
    frac = (need - (pos > th).sum()) / (pos == th).sum() if need > 0 else 0.0
    for name, neg in (("rest", p[t < crowded]), ("isolated", p[t < isolated])):
        if not len(pos) or not len(neg):
            out[f"auc_{name}"] = out[f"floor_{name}"] = float("nan")
            continue
        both = np.concatenate([pos, neg])
        srt = np.sort(both)  # mid-ranks: a tie counts half
        ranks = (np.searchsorted(srt, both, "left") + np.searchsorted(srt, both, "right") + 1) / 2
        out[f"auc_{name}"] = float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
        out[f"floor_{name}"] = float(((neg > th).sum() + frac * (neg == th).sum()) / len(neg))
    return out


def calibrate(model: nn.Module, p: torch.Tensor, t: torch.Tensor, crowded: float = 0.5) -> tuple[float, float]:
    """Fit an affine map of the density logit, sigmoid(a * z + b), whose mean on the crowded positives
    (target >= ``crowded``) and on the rest equals their mean targets (bisection on the slope ``a`` in
    [1e-3, 1e3], ``b`` solved for the rest at each; clamped at the ends when no slope reaches the crowded
    target), and fold it into the readout's last conv (weight * a, bias * a + b): boxes and scores are
    untouched. Returns (a, b)."""
    z = torch.logit(p.double().clamp(1e-6, 1 - 1e-6))
    c = t >= crowded
    if c.all() or not c.any():
        return 1.0, 0.0  # one group only: nothing to separate, the readout stays as it is
    goal_c, goal_r = float(t[c].double().mean()), float(t[~c].double().mean())

    def bisect(f, lo, hi, n=60):  # f increasing on [lo, hi]: the x where f(x) = 0 (clamped to the ends)
        for _ in range(n):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    def shift(a):  # the b that puts the rest's mean on its target (the mean rises with b)
        return bisect(lambda b: float(torch.sigmoid(a * z[~c] + b).mean()) - goal_r, -1e3, 1e3)

    def crowded_mean(log_a):  # at that b, the crowded mean rises with the slope when crowded rank higher
        a = math.exp(log_a)
        return float(torch.sigmoid(a * z[c] + shift(a)).mean()) - goal_c

    a = math.exp(bisect(crowded_mean, math.log(1e-3), math.log(1e3), 40))
    b = shift(a)
    with torch.no_grad():
        for dp in model.head.density_pred:
            last = dp[-1] if isinstance(dp, nn.Sequential) else dp
            last.weight.mul_(a)
            last.bias.mul_(a).add_(b)
    return a, b


def fit_readout(model: nn.Module, loss: DetectionLoss, records, img: int, batch: int, epochs: int, lr: float,
                hyp: dict, workers: int) -> None:
    for n, p in model.named_parameters():
        p.requires_grad = ".density_pred." in n
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    ds = DetectionDataset(records, img, augment=True, hyp=hyp)
    loader, sampler = build_dataloader(ds, batch, workers, shuffle=True)
    t0 = time.time()
    for e in range(epochs):
        model.train()
        for m in model.modules():  # frozen detector: its BatchNorm statistics stay
            if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
                m.eval()
        if sampler is not None and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(e)
        total = 0.0
        for i, b in enumerate(loader):
            dens = loss.terms(model(b["images"].float() / 255), b["targets"], b["crowd"])["density"]
            opt.zero_grad()
            dens.backward()
            opt.step()
            total += float(dens.detach())
        print(f"fit epoch {e + 1}/{epochs}: density loss {total / max(i + 1, 1):.4f} ({time.time() - t0:.0f} s)",
              flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="checkpoint of ours (.pt)")
    ap.add_argument("--data", required=True, help="dataset YAML")
    ap.add_argument("--img", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--images", type=int, default=0, help="use the first N images of each split (0: all)")
    ap.add_argument("--fit-epochs", type=int, default=0, help="retrain the density readout alone first")
    ap.add_argument("--readout", choices=("keep", "own", "pred"), default="keep",
                    help="keep the checkpoint's readout, or refit a fresh one of this mode")
    ap.add_argument("--width", type=int, default=0, help="'own' readout: two convs this wide (0: the head's)")
    ap.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate of the refit")
    ap.add_argument("--hyp", default=None, help="augmentation of the refit (default: the training defaults)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibrate", action="store_true",
                    help="then fit an affine recalibration of the density logit on the train split (crowded and "
                         "other positives' mean densities = their mean targets) and fold it into the readout")
    ap.add_argument("--save", default=None, help="write the refit / recalibrated model as a checkpoint here")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    ck = load_checkpoint(a.weights)
    model = model_from_checkpoint(ck, a.weights)
    if a.readout != "keep":
        fresh_readout(model.head, a.readout, a.width)
    hyp = load_hyp(a.hyp)
    loss = model.head.build_loss(hyp)
    cfg = load_data_config(a.data)
    splits = {s: index_split(cfg, s).records[:a.images or None] for s in ("train", "val")}
    if a.fit_epochs:
        fit_readout(model, loss, splits["train"], a.img, a.batch, a.fit_epochs, a.lr, hyp, a.workers)
    if a.calibrate:
        slope, shift = calibrate(model, *collect(model, loss, splits["train"], a.img, a.batch))
        print(f"recalibrated on train: density = sigmoid({slope:.3f} * logit + {shift:.3f})")
    if a.save and a.readout != "keep":  # the readout differs from the checkpoint's config: weights only
        torch.save({"model": model.state_dict()}, a.save)
    elif a.save and (a.fit_epochs or a.calibrate):
        kept = {k: v for k, v in ck.items() if k not in ("format", "ema")}
        save_checkpoint(a.save, {**kept, "model": model.state_dict()})
        print(f"saved {a.save} (a checkpoint: score it with tools/val.py --nms adaptive ...)")
    print("split  positives  corr   mean pred / target   mean pred by target bucket (n)")
    for s, recs in splits.items():
        r = measure(model, loss, recs, a.img, a.batch)
        cells = "  ".join(f"{k}: {v[1]:.3f} ({v[0]})" for k, v in r.items() if isinstance(v, tuple))
        print(f"{s:5s}  {r['positives']:9d}  {r['corr']:.3f}  {r['mean_pred']:.3f} / {r['mean_target']:.3f}   {cells}")
        print(f"       crowded (target >= 0.5) vs rest / vs isolated (< 0.1): AUC {r['auc_rest']:.3f} / "
              f"{r['auc_isolated']:.3f}; best any recalibration can do with the crowded mean within 0.10 of its "
              f"target: rest >= {r['floor_rest']:.3f}, isolated >= {r['floor_isolated']:.3f}")


if __name__ == "__main__":
    main()
