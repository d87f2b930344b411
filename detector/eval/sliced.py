"""Validation with sliced inference (``tools/val.py --slice``): each image of the split read whole, cut into
tiles, run through the same Predictor and merged (:mod:`detector.predict.slicing`), then scored by the same
COCO evaluator and confusion matrix as the batched path."""
from __future__ import annotations

import time

import numpy as np
import torch
from tqdm import tqdm

from ..data.image_io import ImageReadError, read_image
from ..metrics.coco_eval import COCOEvaluator
from ..predict.slicing import SliceOptions, predict_sliced


def validate_sliced(predictor, records, evaluator: COCOEvaluator, opts: SliceOptions, confusion=None,
                    progress: bool = True) -> dict:
    """The evaluator's metrics over ``records`` with sliced inference, plus ``speed``, ``images`` and
    ``skipped`` (unreadable images, left out and listed) as :func:`~detector.eval.val_loop.run_validation`."""
    evaluator.reset()
    skipped, n, t_model, t0 = [], 0, 0.0, time.perf_counter()
    for r in tqdm(records, desc="val (sliced)", disable=not progress, leave=False):
        try:
            im = read_image(r.path)
        except ImageReadError as e:
            skipped.append((r.path, str(e)))
            continue
        h, w = im.shape[:2]
        tp = time.perf_counter()
        d = predict_sliced(predictor, im, opts)
        t_model += time.perf_counter() - tp
        evaluator.update([d], [{"image_id": r.image_id, "orig_shape": (h, w), "ratio": (1.0, 1.0), "pad": (0.0, 0.0)}])
        if confusion is not None:
            gt = np.asarray(r.boxes, np.float64).reshape(-1, 4) * ([w, h, w, h] if getattr(r, "normalized", False)
                                                                   else 1.0)
            confusion.update(d, torch.as_tensor(gt, dtype=torch.float32), torch.as_tensor(np.array(r.classes)))
        n += 1
    t1 = time.perf_counter()
    m = evaluator.compute()
    per = 1000 * t_model / max(n, 1)  # tiles, pre-processing, forwards, NMS and the merge; not reading the image
    m["speed"] = {"preprocess": 0.0, "inference": per, "nms": 0.0, "cocoeval_s": time.perf_counter() - t1,
                  "load_s": t1 - t0 - t_model, "model_s": t_model, "nms_s": 0.0, "warmup_s": 0.0,
                  "total_s": time.perf_counter() - t0}
    m["images"], m["skipped"] = n, skipped
    m["slice"] = {"size": opts.size, "overlap": opts.overlap, "full": opts.full, "img": opts.img}  # img None: native
    return m
