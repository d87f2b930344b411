"""Model summary: layer table, parameter totals and GFLOPs (``torch.utils.flop_counter``)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, imgsz: int | tuple[int, int] = 640, in_channels: int = 3) -> float:
    """GFLOPs of one forward pass on a single ``imgsz`` image (2 FLOPs per multiply-add,
    the convention of FLOP tables for YOLO models), counted by ``FlopCounterMode``."""
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    p = next(model.parameters())
    x = torch.zeros(1, in_channels, h, w, device=p.device, dtype=p.dtype)
    training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(x)
    finally:
        model.train(training)
    return fc.get_total_flops() / 1e9


def model_summary(model, imgsz: int | None = 640) -> str:
    """Human-readable table: index, from, repeats, params, module, args; then totals and GFLOPs."""
    rows = [f"{'idx':>3} {'from':>14} {'n':>3} {'params':>10}  {'module':<12} args"]
    specs = {s.index: s for s in model.cfg.layers}
    for m in model.layers:
        s = specs[m.layer_index]
        rows.append(f"{m.layer_index:>3} {str(s.from_yaml):>14} {s.repeats:>3} {count_params(m):>10,}  {m.type:<12} {s.args}")
    n_params = count_params(model)
    n_layers = sum(1 for _ in model.modules())
    scale = f" scale {model.cfg.scale}," if model.cfg.scale else ""
    total = f"{model.cfg.source}:{scale} {n_layers} modules, {n_params:,} parameters"
    if imgsz:
        total += f", {count_flops(model, imgsz):.2f} GFLOPs at {imgsz}"
    strides = ", ".join(str(int(s)) for s in model.stride.tolist())
    return "\n".join(rows + [total + f", strides {strides}, nc {model.nc}"])
