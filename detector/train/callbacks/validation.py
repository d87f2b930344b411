"""Validation of the EMA weights, best fitness (mAP50-95) and early stopping."""
from __future__ import annotations

import time

from ...eval.val_loop import run_validation
from .base import Callback


class Validation(Callback):
    """Every ``val_period`` epochs and after the last one (rank 0): ``trainer.metrics`` from the val
    split, ``trainer.fitness`` = mAP50-95 (the last known value on epochs without validation),
    ``trainer.improved`` and ``trainer.best_fitness``; ``trainer.stop`` when a validation finds no
    improvement for ``patience`` epochs. Only epochs that validate can stop a run: with a ``val_period``
    longer than the patience (or than the run) nothing is judged before a validation has happened."""

    def on_train_start(self, trainer) -> None:
        self.best_epoch = trainer.start_epoch - 1  # patience restarts with the run (and on resume)

    def on_epoch_end(self, trainer) -> None:
        if not trainer.main:
            return
        cfg, epoch = trainer.cfg, trainer.epoch
        final = epoch + 1 == cfg.epochs
        t0 = time.time()
        validated = trainer.val_loader is not None and ((epoch + 1) % cfg.val_period == 0 or final)
        if validated:
            trainer.metrics = run_validation(trainer.ema.ema, trainer.val_loader, trainer.evaluator, trainer.device,
                                             nms=trainer.nms, progress=True)
        trainer.val_s = time.time() - t0
        trainer.fitness = trainer.metrics.get("mAP50-95", 0.0)
        trainer.improved = trainer.fitness > trainer.best_fitness
        if trainer.improved:
            trainer.best_fitness, self.best_epoch = trainer.fitness, epoch
        if validated and not final and epoch - self.best_epoch >= cfg.patience:
            trainer.stop = True
            trainer.log(f"early stop: no mAP50-95 improvement for {epoch - self.best_epoch} epochs "
                        f"(--patience {cfg.patience})")
