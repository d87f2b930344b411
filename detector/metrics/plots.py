"""Evaluation plots with matplotlib: PR curve and confusion matrix."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curve(curve: dict, path: Path, title: str = "") -> Path | None:
    """Precision-recall (class mean, IoU 0.5) traced over the confidence threshold."""
    if not curve:
        return None
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(curve["recall"], curve["precision"], lw=2)
    a.set_xlabel("recall")
    a.set_ylabel("precision")
    a.set_xlim(0, 1)
    a.set_ylim(0, 1.01)
    a.set_title(f"PR curve, class mean, IoU 0.5 {title}")
    a.grid(alpha=0.3)
    for k in ("precision", "recall", "f1"):
        b.plot(curve["conf"], curve[k], label=k)
    b.set_xlabel("confidence threshold")
    b.legend()
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(matrix: np.ndarray, names: list[str], path: Path, max_classes: int = 40) -> Path:
    """Column-normalized confusion matrix; with many classes only the most frequent are shown."""
    plt = _plt()
    nc = len(names)
    keep = list(range(nc))
    if nc > max_classes:
        freq = matrix[:, :nc].sum(0) + matrix[:nc, :].sum(1)
        keep = sorted(np.argsort(-freq)[:max_classes].tolist())
    idx = keep + [nc]
    m = matrix[np.ix_(idx, idx)].astype(float)
    m = m / np.maximum(m.sum(0, keepdims=True), 1)
    labels = [names[i] for i in keep] + ["background"]
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(idx) + 2), max(4, 0.35 * len(idx) + 1.5)))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(idx)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(idx)), labels, fontsize=7)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
