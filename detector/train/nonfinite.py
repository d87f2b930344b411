"""The guard against a diverging loss, without a device sync per batch.

On CPU a non-finite loss stops training at once (nothing to wait for). On a GPU each batch only adds
to on-device counters; they are read at the end of the epoch (a sync that happens there anyway):
- with the fp16 GradScaler, a non-finite loss is an overflow the scaler skips (its step is dropped
  and the scale lowered): such batches are counted in the log, and training stops only when every
  batch of the epoch was non-finite;
- without it (fp32, bf16) any non-finite loss is divergence: training stops naming the epoch and the
  first bad batch, before the epoch's checkpoint overwrites the last good one.
"""
from __future__ import annotations

import torch


class NonFiniteGuard:
    def __init__(self, device: torch.device, scaler_skips: bool, immediate: bool | None = None):
        self.scaler_skips = scaler_skips
        self.immediate = device.type == "cpu" if immediate is None else immediate
        self.device = device
        self.start_epoch()

    def start_epoch(self) -> None:
        self.count = torch.zeros((), dtype=torch.int64, device=self.device)
        self.first = torch.full((), -1, dtype=torch.int64, device=self.device)

    def observe(self, loss: torch.Tensor, batch_i: int, epoch: int) -> None:
        """Record one batch's loss (no host sync unless ``immediate``)."""
        bad = ~torch.isfinite(loss.detach())
        if self.immediate:
            if bad:
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}, batch {batch_i}: "
                                         "lower lr0 or check the labels report")
            return
        self.count += bad
        self.first = torch.where(bad & (self.first < 0), torch.full_like(self.first, batch_i), self.first)

    def end_epoch(self, epoch: int, n_batches: int) -> str | None:
        """Raise FloatingPointError on divergence; otherwise a log line about skipped batches, or None."""
        n, first = int(self.count), int(self.first)
        if n == 0:
            return None
        if not self.scaler_skips or n >= n_batches:
            raise FloatingPointError(f"loss became non-finite in {n}/{n_batches} batches of epoch {epoch + 1} "
                                     f"(first at batch {first}): lower lr0 or check the labels report")
        return (f"epoch {epoch + 1}: {n}/{n_batches} batches had a non-finite loss (fp16 overflow); "
                "the GradScaler skipped their steps")
