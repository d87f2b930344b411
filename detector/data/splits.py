"""The train and val splits of a data YAML, indexed and checked once before training: the label
report (written by rank 0), loud warnings, ``--strict-labels`` and train/val class agreement."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build import SplitIndex, index_split
from .categories import category_mismatch
from .config import DataConfig, load_data_config
from .report import label_warnings, summarize, write_report
from .table import RecordTable


class LabelError(ValueError):
    """Training refused because of label errors (--strict-labels); the run folder keeps its report."""


@dataclass
class TrainSplits:
    data_cfg: DataConfig
    train: SplitIndex
    val: SplitIndex | None

    @property
    def names(self) -> list[str]:
        return self.train.names


def split_counts(split: SplitIndex) -> dict[str, int]:
    """Images, boxes, crowd regions and background images of a split (from the table's offsets when the
    records are a RecordTable: no record object is built)."""
    recs = split.records
    if isinstance(recs, RecordTable):
        nb, nc = recs.box_counts(), recs.crowd_counts()
    else:
        nb = np.array([len(r.boxes) for r in recs], np.int64)
        nc = np.array([len(r.crowd) for r in recs], np.int64)
    return dict(images=len(recs), boxes=int(nb.sum()), crowd=int(nc.sum()), background=int((nb == 0).sum()))


def prepare_splits(data: str, report_path: Path | None, strict: bool = False, log=print) -> TrainSplits:
    """Index ``data``'s train (and val, if any) split. ``report_path`` (rank 0 only; None elsewhere)
    receives labels_report.json and the summary is logged. Raises LabelError (``strict`` and some
    label rejected) or ValueError (no usable train image, train and val classes disagree)."""
    data_cfg = load_data_config(data)
    train = index_split(data_cfg, "train")
    val = index_split(data_cfg, "val") if "val" in data_cfg.splits else None
    splits = [s for s in (train, val) if s is not None]
    issues = {s.split: s.issues for s in splits}
    counts = {s.split: split_counts(s) for s in splits}
    loud = label_warnings(issues, counts)
    if report_path is not None:
        write_report(report_path, issues, counts, loud)
        log(summarize(issues, counts))
        for w in loud:
            log(f"WARNING: {w}: check {report_path} (--strict-labels refuses to train)")
    n_rejected = sum(i.severity == "rejected" for v in issues.values() for i in v)
    if strict and n_rejected:
        raise LabelError(f"{data}: --strict-labels: {n_rejected} label error(s), listed in {report_path}"
                         if report_path is not None else "label errors")
    if not train.records:
        raise ValueError(f"{data}: the train split has no usable images")
    if val is not None:
        problem = category_mismatch(f"{data} train split", train.names, train.cat_ids,
                                    "its val split", val.names, val.cat_ids)
        if problem:
            raise ValueError(problem)
    return TrainSplits(data_cfg, train, val)
