"""Evaluation jobs: the validation loop (one pass of a model over a loader into a COCO evaluator, used by
training's per-epoch validation) and the ``tools/val.py`` job (a checkpoint, an exported model or a results
file scored on a split, with plots and metrics files). The metrics themselves live in :mod:`detector.metrics`.

    from detector.eval import ValConfig, evaluate
    metrics = evaluate(ValConfig(weights="best.pt", data="coco128.yaml"), save_dir=Path("runs/val/exp"))
"""
from .val_job import ValConfig, evaluate, format_table, write_metrics
from .val_loop import run_validation

__all__ = ["ValConfig", "evaluate", "format_table", "run_validation", "write_metrics"]
