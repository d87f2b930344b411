"""Run logging: results.csv (rewritten atomically each epoch), TensorBoard events, results.png."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..utils.io import write_text


class RunLogger:
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
