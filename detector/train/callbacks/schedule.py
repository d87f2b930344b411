"""Learning-rate warmup (per batch) and schedule (per epoch), and the EMA of the weights."""
from __future__ import annotations

import numpy as np

from .base import Callback


class LRSchedule(Callback):
    """Warmup over the first ``max(warmup_epochs * nb, 100)`` batches: every group's lr rises linearly
    from 0 (biases: from ``warmup_bias_lr``) to its scheduled value and momentum from
    ``warmup_momentum`` to ``momentum``; after each epoch the LambdaLR schedule steps. With
    ``warmup_accumulate`` the number of batches accumulated per step also rises, from 1 to the nominal
    ``nbs / batch``, over the warmup (more, smaller steps while the lr is low, as YOLOv5/Ultralytics)."""

    def on_train_start(self, trainer) -> None:
        warm = trainer.hyp["warmup_epochs"]
        self.n_warmup = max(round(warm * trainer.n_batches), 100) if warm > 0 else -1

    def on_batch_start(self, trainer) -> None:
        ni, hyp = trainer.global_i, trainer.hyp
        if ni > self.n_warmup:
            trainer.accumulate = trainer.nominal_accumulate
            return
        xi = [0, self.n_warmup]
        if hyp["warmup_accumulate"]:
            trainer.accumulate = max(1, round(float(np.interp(ni, xi, [1, trainer.nominal_accumulate]))))
        for j, g in enumerate(trainer.optimizer.param_groups):
            start = hyp["warmup_bias_lr"] if j == 2 else 0.0
            g["lr"] = float(np.interp(ni, xi, [start, g["initial_lr"] * trainer.lr_factor(trainer.epoch)]))
            mom = float(np.interp(ni, xi, [hyp["warmup_momentum"], hyp["momentum"]]))
            if "momentum" in g:
                g["momentum"] = mom
            elif "betas" in g:
                g["betas"] = (mom, g["betas"][1])

    def on_epoch_end(self, trainer) -> None:
        trainer.epoch_lrs = [g["lr"] for g in trainer.optimizer.param_groups]  # the lrs this epoch ended with
        trainer.scheduler.step()


class EMAUpdate(Callback):
    """Updates ``trainer.ema`` (rank 0 holds it) after every optimizer step."""

    def on_optimizer_step(self, trainer) -> None:
        if trainer.ema is not None:
            trainer.ema.update(trainer.model)
