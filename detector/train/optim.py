"""Optimizer with parameter groups (no weight decay on BN, biases, BiFPN fusion weights) and LR schedules."""
from __future__ import annotations

import math

import torch
from torch import nn


def build_optimizer(model: nn.Module, name: str = "SGD", lr: float = 0.01, momentum: float = 0.937,
                    weight_decay: float = 5e-4) -> torch.optim.Optimizer:
    """Groups: 0 = weights with decay, 1 = no-decay weights (BN, fusion), 2 = biases (no decay)."""
    no_decay = model.no_weight_decay_parameters() if hasattr(model, "no_weight_decay_parameters") else set()
    g_decay, g_nodecay, g_bias = [], [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if n.endswith(".bias"):
            g_bias.append(p)
        elif n in no_decay:
            g_nodecay.append(p)
        else:
            g_decay.append(p)
    groups = [{"params": g_decay, "weight_decay": weight_decay}, {"params": g_nodecay, "weight_decay": 0.0},
              {"params": g_bias, "weight_decay": 0.0}]
    if name == "SGD":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    if name == "AdamW":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))
    raise ValueError(f"optimizer must be SGD or AdamW, got {name!r}")


def lr_lambda(epochs: int, lrf: float, cosine: bool):
    """Multiplier of lr0 at epoch e: linear or cosine from 1 to ``lrf``."""
    if cosine:
        return lambda e: ((1 - math.cos(e * math.pi / max(epochs, 1))) / 2) * (lrf - 1) + 1
    return lambda e: max(1 - e / max(epochs, 1), 0) * (1.0 - lrf) + lrf


def batch_plan(total_batch: int, world: int, nbs: int, weight_decay: float) -> tuple[int, int, float]:
    """``--batch`` is the total batch over all processes. Returns (batch per process, accumulation
    steps, scaled weight decay): gradients are accumulated to the nominal batch ``nbs`` and the weight
    decay scaled by the batch actually stepped (``total_batch * accumulate``) over ``nbs`` — the same
    for 1 process with batch B as for ``world`` processes with B / world each."""
    if total_batch < world:
        raise ValueError(f"--batch {total_batch} is the total over {world} processes: give at least {world}")
    if total_batch % world:
        raise ValueError(f"--batch {total_batch} is the total over {world} processes: give a multiple of {world}")
    accumulate = max(round(nbs / total_batch), 1)
    return total_batch // world, accumulate, weight_decay * total_batch * accumulate / nbs
