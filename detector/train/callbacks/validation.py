"""Validation of the EMA weights, best fitness (mAP50-95) and early stopping."""
from __future__ import annotations

import time

from ...eval.sliced import validate_sliced
from ...eval.val_loop import run_validation
from ...ops.nms import IOU_THRES, MAX_DET, VAL_CONF
from ...predict.predictor import Predictor
from ...predict.slicing import SliceOptions
from .base import Callback


def sliced_validation(trainer) -> dict:
    """``--val-slice``: the EMA model validated as ``val.py --slice`` runs it (whole val images cut into
    tiles, merged by the NMS; the whole image at ``--img`` too), so that best.pt and early stopping follow
    the figure a small-object model is used for, not its whole-image mAP."""
    cfg, model = trainer.cfg, trainer.ema.ema
    was_training = model.training
    model.eval()
    predictor = Predictor.from_model(model, trainer.device, img=cfg.img, conf_thres=VAL_CONF, iou_thres=IOU_THRES,
                                     nms=trainer.nms, max_det=MAX_DET, multi_label=True)
    opts = SliceOptions(cfg.val_slice, 0.2, True, max(1, cfg.batch), img=cfg.val_slice_img)
    try:
        return validate_sliced(predictor, trainer.val_idx.records, trainer.evaluator, opts, progress=True)
    finally:
        model.train(was_training)


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
        if validated and getattr(cfg, "val_slice", None):  # a config without it (older callers): whole images
            trainer.metrics = sliced_validation(trainer)
        elif validated:
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
