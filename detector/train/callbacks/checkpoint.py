"""Checkpoints after each epoch (rank 0): ``last.pt``, ``best.pt`` when fitness improved, and
``epoch{N}.pt`` every ``--save-period`` epochs. Written atomically (state dicts + plain config)."""
from __future__ import annotations

from dataclasses import asdict

import torch

from ...checkpoint.file import save_checkpoint
from ..ema import unwrap
from .base import Callback


def training_state(trainer) -> dict:
    """Everything ``--resume`` needs, as tensors and plain Python values."""
    model = unwrap(trainer.model)
    return {"epoch": trainer.epoch, "best_fitness": trainer.best_fitness, "model": model.state_dict(),
            "ema": trainer.ema.ema.state_dict(), "ema_updates": trainer.ema.updates,
            "optimizer": trainer.optimizer.state_dict(), "scheduler": trainer.scheduler.state_dict(),
            "scaler": trainer.scaler.state_dict(), "model_cfg": model.yaml, "train_cfg": asdict(trainer.cfg),
            "data_cfg": trainer.data_cfg.raw, "hyp": trainer.hyp, "names": trainer.names,
            "cat_ids": trainer.train_idx.cat_ids, "nms": trainer.nms,
            "metrics": {k: float(v) for k, v in trainer.metrics.items() if isinstance(v, float)},  # plain floats
            "rng": {"torch": torch.get_rng_state()},
            **({"distill": trainer.distill.distiller.state_dict()} if getattr(trainer, "distill", None) else {})}


class Checkpointer(Callback):
    def on_epoch_end(self, trainer) -> None:
        if not trainer.main:
            return
        ck = training_state(trainer)
        w = trainer.save_dir / "weights"
        save_checkpoint(w / "last.pt", ck)
        if trainer.improved:
            save_checkpoint(w / "best.pt", ck)
        period = trainer.cfg.save_period
        if period > 0 and (trainer.epoch + 1) % period == 0:
            save_checkpoint(w / f"epoch{trainer.epoch + 1}.pt", ck)
