"""Run a model over a validation loader: decode, NMS, COCO metrics, per-stage speed."""
from __future__ import annotations

import time

import torch
from tqdm import tqdm

from ..metrics.coco_eval import COCOEvaluator
from ..ops.nms import IOU_THRES, MAX_DET, VAL_CONF
from ..predict.predictor import Predictor


@torch.no_grad()
def run_validation(model, loader, evaluator: COCOEvaluator, device: torch.device, conf_thres: float = VAL_CONF,
                   iou_thres: float = IOU_THRES, nms: str | None = None, max_det: int = MAX_DET, half: bool = False,
                   progress: bool = True, desc: str = "val", confusion=None, variants: dict | None = None,
                   predictor: Predictor | None = None) -> dict:
    """Returns the evaluator's metrics plus ``speed`` (ms per image: preprocess, inference, nms) and
    ``skipped`` (unreadable images met on the way).

    ``variants``: {name: (COCOEvaluator, {"nms": ..., "iou_thres": ...})}: other post-processings of the
    same forward passes (an NMS / IoU-threshold sweep costs one model pass), each scored by its own
    evaluator; their metrics come back under ``metrics["variants"][name]`` (not timed).

    ``predictor``: run this one instead of ``model`` (an exported model: ``Predictor.from_exported``)."""
    was_training = model.training if model is not None else False
    if model is not None:
        model.eval()
    evaluator.reset()
    t_load = t_pre = t_inf = t_nms = t_warm = 0.0
    n_img, skipped = 0, list(getattr(loader.dataset, "unreadable", []))
    if predictor is None:
        predictor = Predictor.from_model(model, device, half, conf_thres=conf_thres, iou_thres=iou_thres, nms=nms,
                                         max_det=max_det, multi_label=True)
    if variants and predictor.graph_nms is not None:
        raise ValueError("NMS variants need decoded predictions; this model has its NMS inside the graph")
    others = _variant_predictors(variants or {}, predictor, device)
    t_start = tl = time.perf_counter()
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        t0 = time.perf_counter()
        t_load += t0 - tl
        imgs = batch["images"].to(device, non_blocking=True)  # uint8: normalized inside the predictor
        predictor.sync()
        t1 = time.perf_counter()
        if predictor.needs_warmup:  # one-time CUDA start-up, kept out of the per-image speed (not the wall time)
            predictor.warmup(imgs)
            t_warm, t1 = time.perf_counter() - t1, time.perf_counter()
        preds = predictor.forward(imgs)
        predictor.sync()
        t2 = time.perf_counter()
        dets = predictor.postprocess(preds)
        predictor.sync()
        t3 = time.perf_counter()
        evaluator.update(dets, batch["meta"])
        for ev, p in others.values():
            ev.update(p.postprocess(preds), batch["meta"])
        if confusion is not None:
            _update_confusion(confusion, dets, batch["targets"])
        t_pre, t_inf, t_nms = t_pre + t1 - t0, t_inf + t2 - t1, t_nms + t3 - t2
        n_img += len(imgs)
        for m in batch["meta"]:
            skipped += m.get("skipped", [])
        tl = time.perf_counter()
    t4 = time.perf_counter()
    metrics = evaluator.compute()
    t5 = time.perf_counter()
    metrics["speed"] = {"preprocess": 1000 * t_pre / max(n_img, 1), "inference": 1000 * t_inf / max(n_img, 1),
                        "nms": 1000 * t_nms / max(n_img, 1), "cocoeval_s": t5 - t4, "load_s": t_load,
                        "model_s": t_pre + t_inf, "nms_s": t_nms, "warmup_s": t_warm, "total_s": t5 - t_start}
    metrics["images"] = n_img
    if others:
        metrics["variants"] = {name: ev.compute() for name, (ev, _) in others.items()}
    metrics["skipped"] = list(dict.fromkeys(tuple(x) for x in skipped))  # each unreadable image once
    if model is not None:
        model.train(was_training)
    return metrics


def _variant_predictors(variants: dict, predictor: Predictor, device: torch.device) -> dict:
    """{name: (its evaluator, reset; a post-processing-only Predictor with the variant's options)}."""
    out = {}
    for name, (ev, opts) in variants.items():
        ev.reset()
        out[name] = (ev, Predictor(None, predictor.stride, device, **{**vars(predictor.options), **opts}))
    return out


def _update_confusion(confusion, dets: list[torch.Tensor], targets: torch.Tensor) -> None:
    """targets Tensor[T, 6] (batch index, class, x1, y1, x2, y2): each image's boxes against its detections."""
    for b, d in enumerate(dets):
        tb = targets[targets[:, 0] == b]
        confusion.update(d.cpu(), tb[:, 2:6], tb[:, 1])
