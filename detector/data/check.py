"""The label check run by tools/check_data.py and at the start of training."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..utils.plots import draw_boxes
from .build import index_split
from .config import load_data_config
from .image_io import ImageReadError, read_image
from .records import Issue
from .report import label_warnings, summarize, write_report
from .splits import split_counts


@dataclass
class CheckResult:
    issues: dict[str, list[Issue]]
    counts: dict[str, dict[str, int]]
    summary: str
    report_path: Path | None
    rejected: int
    pictures: list[Path] = field(default_factory=list)


def check_dataset(data: str | Path, splits: list[str] | None, out: Path | None, decode: bool = True,
                  show: int = 0) -> CheckResult:
    cfg = load_data_config(data)
    splits = splits or list(cfg.splits)
    issues, counts, pictures = {}, {}, []
    for s in splits:
        idx = index_split(cfg, s, decode=decode)
        issues[s] = idx.issues
        counts[s] = split_counts(idx)
        if show and out is not None:
            pictures += _draw_samples(idx, out, show)
    loud = label_warnings(issues, counts)
    summary = "\n".join([summarize(issues, counts), *(f"WARNING: {w}" for w in loud)])
    report = write_report(out / "labels_report.json", issues, counts, loud) if out is not None else None
    rejected = sum(i.severity == "rejected" for v in issues.values() for i in v)
    return CheckResult(issues, counts, summary, report, rejected, pictures)


def _draw_samples(idx, out: Path, n: int) -> list[Path]:
    paths = []
    for rec in idx.records[:n]:
        try:
            img = read_image(rec.path, rec.apply_exif)
        except ImageReadError:
            continue
        h, w = img.shape[:2]
        boxes = rec.boxes * (np.array([w, h, w, h], np.float32) if rec.normalized else 1)
        pic = draw_boxes(img, boxes, rec.classes, idx.names, crowd=rec.crowd)
        p = out / f"{idx.split}_{Path(rec.path).stem}.jpg"
        out.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), pic)
        paths.append(p)
    return paths
