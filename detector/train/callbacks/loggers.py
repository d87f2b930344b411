"""What a training run shows and writes (rank 0): the progress bar, the epoch line, results.csv
(rewritten atomically each epoch), TensorBoard events, results.png and train_batch0.jpg."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ...utils.io import write_text
from ...utils.plots import batch_mosaic
from ..ema import unwrap
from .base import Callback


SHORT = {"density": "dens", "distill_feature": "kd_feat", "distill_cls": "kd_cls", "distill_box": "kd_box"}  # bar names


class ProgressBar(Callback):
    """tqdm over the batches of each epoch: running mean losses, lr, img/s and GPU memory."""

    def on_epoch_start(self, trainer) -> None:
        self.bar = tqdm(total=trainer.n_batches, disable=not trainer.main, ncols=120,
                        desc=f"{trainer.epoch + 1}/{trainer.cfg.epochs}")

    def on_batch_end(self, trainer) -> None:
        if not trainer.main:
            return
        m, dev = trainer.mean_loss, trainer.device
        mem = f"{torch.cuda.max_memory_reserved(dev) / 2**30:.1f}G" if dev.type == "cuda" else "cpu"
        terms = " ".join(f"{SHORT.get(k, k)} {float(v):.3f}" for k, v in m.items())
        self.bar.set_postfix_str(f"{terms} "
                                 f"lr {trainer.optimizer.param_groups[0]['lr']:.2e} "
                                 f"{trainer.n_seen * trainer.world / trainer.elapsed():.1f} img/s {mem}", refresh=False)
        self.bar.update(1)

    def on_epoch_end(self, trainer) -> None:
        self.bar.close()


class RunLogger:
    """results.csv (one row per epoch, rewritten atomically), TensorBoard events, results.png."""

    def __init__(self, save_dir: Path, tensorboard: bool = True):
        self.save_dir = Path(save_dir)
        self.rows: list[dict] = []
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.save_dir))
            except ImportError:  # tensorboard not installed: CSV and plots still written
                self.tb = None

    def load_existing(self) -> None:
        """On resume: keep the rows already written."""
        p = self.save_dir / "results.csv"
        if p.is_file():
            with open(p, newline="", encoding="utf-8") as f:
                self.rows = [{k: float(v) if k != "epoch" else int(v) for k, v in r.items()} for r in csv.DictReader(f)]

    def log(self, row: dict, extra_scalars: dict | None = None) -> None:
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        buf = io.StringIO()
        keys = list(row)
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        for r in self.rows:
            w.writerow({k: (f"{r[k]:.6g}" if isinstance(r.get(k), float) else r.get(k, "")) for k in keys})
        write_text(self.save_dir / "results.csv", buf.getvalue())
        if self.tb is not None:
            for k, v in {**row, **(extra_scalars or {})}.items():
                if k != "epoch":
                    self.tb.add_scalar(k, v, row["epoch"])
            self.tb.flush()

    def plot(self) -> Path | None:
        """results.png: one panel per logged quantity."""
        if not self.rows:
            return None
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return None
        keys = [k for k in self.rows[0] if k not in ("epoch", "time", "val_time")]
        cols = 5
        rows = (len(keys) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
        ep = [r["epoch"] for r in self.rows]
        for ax, k in zip(axes.flat, keys):
            ax.plot(ep, [r.get(k, float("nan")) for r in self.rows], marker=".", lw=1.5)
            ax.set_title(k, fontsize=9)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(keys):]:
            ax.axis("off")
        fig.tight_layout()
        out = self.save_dir / "results.png"
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def epoch_row(trainer) -> tuple[dict, dict]:
    """(results.csv row, extra TensorBoard scalars: every BiFPN fusion weight) of the epoch just ended; one
    ``train/<term>_loss`` column per loss term, by name (``box``, ``cls``, ``dfl``, ``density``, then any a
    callback added)."""
    fw = unwrap(trainer.model).fusion_weights()
    mloss, m, lrs, t = trainer.mean_loss, trainer.metrics, trainer.epoch_lrs, trainer.train_s
    row = {"epoch": trainer.epoch + 1, **{f"train/{k}_loss": float(v) for k, v in mloss.items()},
           "metrics/precision": float(m.get("precision", 0.0)), "metrics/recall": float(m.get("recall", 0.0)),
           "metrics/mAP50": float(m.get("mAP50", 0.0)), "metrics/mAP50-95": float(m.get("mAP50-95", 0.0)),
           "lr/pg0": lrs[0], "lr/pg1": lrs[1], "lr/pg2": lrs[2],
           "fusion/max_weight_mean": float(np.mean([w.max().item() for w in fw.values()])) if fw else 0.0,
           "train/img_per_s": trainer.n_seen * trainer.world / max(t, 1e-9), "time": t, "val_time": trainer.val_s}
    extra = {f"fusion/{k}/{j}": float(v) for k, w in fw.items() for j, v in enumerate(w.tolist())}
    return row, extra


class ResultsLogger(Callback):
    """The epoch line on the console, results.csv + TensorBoard each epoch, results.png at the end,
    and a picture of the first training batch (``--plots``)."""

    def on_train_start(self, trainer) -> None:
        self.writer = None
        if trainer.main:
            self.writer = RunLogger(trainer.save_dir)
            if trainer.resume_ckpt:
                self.writer.load_existing()

    def on_batch_end(self, trainer) -> None:
        if (trainer.main and trainer.cfg.plots and trainer.epoch == trainer.start_epoch and trainer.batch_i == 0):
            b = trainer.batch
            cv2.imwrite(str(trainer.save_dir / "train_batch0.jpg"),
                        batch_mosaic(b["images"].numpy(), b["targets"].numpy(), trainer.names))

    def on_epoch_end(self, trainer) -> None:
        if not trainer.main:
            return
        row, extra = epoch_row(trainer)
        self.writer.log(row, extra)
        trainer.log(f"epoch {row['epoch']}: mAP50 {row['metrics/mAP50']:.4f} mAP50-95 {row['metrics/mAP50-95']:.4f} "
                    f"P {row['metrics/precision']:.3f} R {row['metrics/recall']:.3f} (train {trainer.train_s:.1f}s, "
                    f"{row['train/img_per_s']:.1f} img/s; val {trainer.val_s:.1f}s)")

    def on_train_end(self, trainer) -> None:
        if self.writer is not None:
            self.writer.plot()
            self.writer.close()
