"""Evaluation behind tools/val.py: a checkpoint (or an existing predictions json) on a dataset split."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import DetectionDataset, build_dataloader, index_split, load_data_config
from ..data.categories import category_mismatch
from ..data.image_io import ImageReadError, read_image
from ..metrics.class_check import class_mapping_hint
from ..metrics.coco_eval import STAT_KEYS, COCOEvaluator, evaluate_arrays
from ..metrics.confusion import ConfusionMatrix
from ..metrics.plots import plot_confusion, plot_pr_curve
from ..metrics.results_file import read_results
from ..ops.nms import IOU_THRES, MAX_DET, VAL_CONF, resolve_nms
from ..utils.io import write_json, write_text
from ..runtime import is_exported, open_exported
from ..checkpoint.file import load_checkpoint, model_from_checkpoint
from ..utils.cli import round_img
from ..utils.dist import select_device
from ..predict.predictor import Predictor
from ..predict.slicing import SliceOptions
from .sliced import validate_sliced
from .val_loop import run_validation


@dataclass
class ValConfig:
    weights: str | None = None
    data: str = "cfg/data/synthetic.yaml"
    img: int = 640
    batch: int = 32
    device: str = ""
    split: str = "val"
    conf_thres: float = VAL_CONF
    iou_thres: float = IOU_THRES
    nms: str | None = None
    max_det: int = MAX_DET
    save_json: bool = True
    half: bool = False
    workers: int = 2
    rect: bool = True
    rect_pad: float = 0.0  # extra border of each rectangular batch, in strides (Ultralytics' val pads 0.5)
    pred: str | None = None
    plots: bool = True
    cat_offset: int = 0  # --pred: added to every category id of the file
    cat_map: str | None = None  # --pred: 'coco80' / 'coco80-1': the file's ids are COCO class indices
    coco_backend: str = "auto"  # faster-coco-eval when installed, else pycocotools (metrics/faster_backend.py)
    slice: int | None = None  # sliced inference in tiles of this many pixels (detector/predict/slicing.py)
    slice_overlap: float = 0.2
    slice_full: bool = True  # with slice: also the whole image
    slice_img: int | None = None  # with slice: network input size of a tile (None: the tile size, native)
    variants: dict | None = None  # {name: {"nms": m, "iou_thres": t}}: more post-processings of the same pass,
    # each scored and returned under m["variants"][name] (the ablation's NMS sweep)


def evaluate(cfg: ValConfig, save_dir: Path) -> dict:
    data_cfg = load_data_config(cfg.data)
    idx = index_split(data_cfg, cfg.split)
    if not idx.records:
        raise ValueError(f"{cfg.data}: the {cfg.split} split has no images to evaluate")
    save_dir.mkdir(parents=True, exist_ok=True)
    if cfg.pred:
        return _score_file(cfg, idx, save_dir)
    if not cfg.weights:
        raise ValueError("give --weights (a checkpoint) or --pred (a COCO results json)")
    if is_exported(cfg.weights):
        return _evaluate_exported(cfg, data_cfg, idx, save_dir)
    device = select_device(cfg.device)
    ckpt = load_checkpoint(cfg.weights)
    model = model_from_checkpoint(ckpt, cfg.weights).to(device).fuse().to(memory_format=torch.channels_last)
    ck_names = ckpt.get("names") or [str(i) for i in range(model.nc)]
    problem = category_mismatch(f"checkpoint {cfg.weights}", ck_names, ckpt.get("cat_ids") if ckpt.get("names") else None,
                                f"{cfg.data} ({cfg.split})", idx.names, idx.cat_ids)
    if model.nc != len(idx.names) or (problem and ckpt.get("names")):
        raise ValueError(problem or f"{cfg.weights} predicts {model.nc} classes but {cfg.data} has {len(idx.names)}")
    half = cfg.half and device.type == "cuda"
    if half:
        model.half()
    nms = resolve_nms(cfg.nms, ckpt.get("nms"), model.cfg.nms)
    if cfg.slice:
        predictor = Predictor.from_model(model, device, half, img=round_img(cfg.img, model.max_stride), rect=False,
                                         conf_thres=cfg.conf_thres, iou_thres=cfg.iou_thres, nms=nms,
                                         max_det=cfg.max_det, multi_label=True)
        return _sliced(cfg, idx, save_dir, predictor, nms)
    ds = DetectionDataset(idx.records, round_img(cfg.img, model.max_stride), augment=False, rect=cfg.rect,
                          batch_size=cfg.batch, stride=model.max_stride, rect_pad=cfg.rect_pad)
    loader, _ = build_dataloader(ds, cfg.batch, cfg.workers, shuffle=False)
    ev = COCOEvaluator.from_split(idx)
    ev.backend = cfg.coco_backend
    cm = ConfusionMatrix(len(idx.names))
    variants = {k: (COCOEvaluator.from_split(idx), dict(v)) for k, v in (cfg.variants or {}).items()}
    m = run_validation(model, loader, ev, device, cfg.conf_thres, cfg.iou_thres, nms, cfg.max_det, half, confusion=cm,
                       variants=variants)
    m["nms"] = nms
    for k, vm in m.get("variants", {}).items():
        vm["nms"] = variants[k][1].get("nms", nms)
    _write_outputs(cfg, idx, save_dir, m, ev, cm)
    return m


def _write_outputs(cfg: ValConfig, idx, save_dir: Path, m: dict, ev: COCOEvaluator, cm: ConfusionMatrix) -> None:
    if cfg.save_json:
        write_text(save_dir / "predictions.json", json.dumps(ev.predictions_json()))
    if cfg.plots:
        plot_pr_curve(m.get("curve"), save_dir / "PR_curve.png")
        plot_confusion(cm.matrix, idx.names, save_dir / "confusion_matrix.png")
    write_metrics(save_dir, m)


def _evaluate_exported(cfg: ValConfig, data_cfg, idx, save_dir: Path) -> dict:
    """An exported model (ONNX, OpenVINO, ...) through the same loader, Predictor and evaluator."""
    em = open_exported(cfg.weights, cfg.device or "cpu")
    problem = category_mismatch(f"exported model {cfg.weights}", [em.names[i] for i in sorted(em.names)], em.cat_ids,
                                f"{cfg.data} ({cfg.split})", idx.names, idx.cat_ids)
    if len(em.names) != len(idx.names) or problem:
        raise ValueError(problem or f"{cfg.weights} predicts {len(em.names)} classes but {cfg.data} has "
                                    f"{len(idx.names)}")
    nms = resolve_nms(cfg.nms, em.default_nms)
    if em.graph_nms is not None:
        g = em.graph_nms
        if nms != g["method"]:
            raise ValueError(f"{cfg.weights}: its NMS ({g['method']}) is inside the graph; --nms {nms} needs an "
                             "export without --nms-in-graph")
        if cfg.conf_thres < g["conf"]:
            print(f"note: {cfg.weights}: NMS in the graph keeps boxes above conf {g['conf']} (not {cfg.conf_thres}) "
                  "and one class per box, so mAP is lower than the checkpoint's; export with --conf 0.001 to "
                  "validate it", file=sys.stderr)
    img = em.static_size or round_img(cfg.img, em.stride)
    predictor = Predictor.from_exported(em, img=img, rect=False, conf_thres=cfg.conf_thres, iou_thres=cfg.iou_thres,
                                        nms=nms, max_det=cfg.max_det, multi_label=True)
    if cfg.slice:
        if em.graph_nms is not None:
            raise ValueError(f"{cfg.weights}: --slice merges tiles with our NMS; export without --nms-in-graph")
        if em.static_size and cfg.slice_img and cfg.slice_img != em.static_size:
            raise ValueError(f"{cfg.weights}: exported at a fixed {em.static_size} px input; --slice-img "
                             f"{cfg.slice_img} needs a dynamic-shape export (or leave --slice-img out)")
        return _sliced(cfg, idx, save_dir, predictor, nms, tile_img=em.static_size)
    rect = cfg.rect and em.static_size is None and em.static_batch is None
    ds = DetectionDataset(idx.records, img, augment=False, rect=rect, batch_size=cfg.batch, rect_pad=cfg.rect_pad)
    loader, _ = build_dataloader(ds, cfg.batch, cfg.workers, shuffle=False)
    ev = COCOEvaluator.from_split(idx)
    ev.backend = cfg.coco_backend
    cm = ConfusionMatrix(len(idx.names))
    m = run_validation(None, loader, ev, torch.device("cpu"), cfg.conf_thres, cfg.iou_thres, nms, cfg.max_det,
                       confusion=cm, predictor=predictor)
    m["nms"] = nms
    m["runtime"] = em.runtime
    _write_outputs(cfg, idx, save_dir, m, ev, cm)
    return m


def _sliced(cfg: ValConfig, idx, save_dir: Path, predictor: Predictor, nms: str, tile_img: int | None = None) -> dict:
    ev = COCOEvaluator.from_split(idx)
    ev.backend = cfg.coco_backend
    cm = ConfusionMatrix(len(idx.names))
    opts = SliceOptions(cfg.slice, cfg.slice_overlap, cfg.slice_full, max(1, cfg.batch), img=tile_img or cfg.slice_img)
    m = validate_sliced(predictor, idx.records, ev, opts, confusion=cm)
    m["nms"] = nms
    _write_outputs(cfg, idx, save_dir, m, ev, cm)
    return m


def _score_file(cfg: ValConfig, idx, save_dir: Path) -> dict:
    res = read_results(cfg.pred, idx, cfg.cat_offset, cfg.cat_map)
    ev = COCOEvaluator.from_split(idx)
    ev.backend = cfg.coco_backend
    if idx.kind == "yolo":  # in-memory ground truth needs each image's size
        for r in idx.records:
            if not r.height:
                try:
                    ev.sizes[r.image_id] = read_image(r.path).shape[:2]
                except ImageReadError:
                    continue
    ids = [r.image_id for r in idx.records]
    gt = ev.ground_truth()
    m = evaluate_arrays(gt, res.rows, ids, idx.cat_ids, idx.names, ev.only_cat_ids, densities=res.densities,
                        backend=cfg.coco_backend)
    hint = class_mapping_hint(gt, res.rows, dict(zip(idx.cat_ids, idx.names)))
    m["note"] = "; ".join([*res.notes, *([m["note"]] if m.get("note") else []), *([hint] if hint else [])])
    m["rows_rejected"], m["rows_unknown_image"] = res.rejected, res.unknown_images
    write_metrics(save_dir, m)
    return m


def write_metrics(save_dir: Path, m: dict) -> None:
    out = {k: m[k] for k in STAT_KEYS}
    out.update({k: m[k] for k in ("precision", "recall", "f1", "conf", "note") if k in m})
    out["per_class"] = m.get("per_class", {})
    for k in ("speed", "images", "nms", "slice", "coco_backend", "runtime", "recall50", "crowded_gt", "crowded_recall50", "density_crowded",
              "density_other", "crowded_AP50", "MR-2", "rows_rejected", "rows_unknown_image"):
        if k in m:
            out[k] = m[k]
    buckets = {k: v for k, v in m.items() if k.startswith(("recall50[", "AP50[", "gt["))}
    if buckets:  # recall / AP50 / count by each ground truth's highest same-class IoU (metrics/crowd.py)
        out["overlap_buckets"] = buckets
    out["skipped"] = [list(s) for s in m.get("skipped", [])]
    write_json(save_dir / "metrics.json", out)


def format_table(m: dict, max_classes: int = 80) -> str:
    lines = [f"{'metric':<12} {'value':>8}"]
    for k in STAT_KEYS:
        lines.append(f"{k:<12} {m[k]:>8.4f}")
    if "precision" in m and m.get("f1"):
        lines.append(f"P {m['precision']:.4f}  R {m['recall']:.4f}  F1 {m['f1']:.4f} at conf {m['conf']:.3f}")
    if m.get("crowded_gt"):
        line = f"crowded ground truth: {m['crowded_gt']} boxes, recall@0.5 {m['crowded_recall50']:.3f}"
        if "density_crowded" in m:  # what adaptive NMS reads: ready when well above the NMS IoU threshold
            line += (f"; mean predicted density {m['density_crowded']:.3f} on them, "
                     f"{m['density_other']:.3f} on the rest")
        lines.append(line)
    names = [k[3:-1] for k in m if k.startswith("gt[")]
    if names and m.get("crowded_gt"):  # overlap buckets: what crowds cost (metrics/crowd.py)
        lines.append("by highest same-class IoU: " + "; ".join(
            f"{b}: {m[f'gt[{b}]']} gt, R50 {m[f'recall50[{b}]']:.3f}, AP50 {m[f'AP50[{b}]']:.3f}"
            for b in names if m[f"gt[{b}]"]))
    if m.get("MR-2") == m.get("MR-2") and "MR-2" in m:  # single-class tasks (NaN otherwise)
        lines.append(f"MR-2 (log-average miss rate, FPPI 0.01-1): {m['MR-2']:.4f}")
    pc = m.get("per_class") or {}
    if pc:
        lines.append(f"{'class':<20} {'AP50-95':>8} {'AP50':>8}")
        for name, v in sorted(pc.items(), key=lambda kv: -kv[1]["AP50-95"])[:max_classes]:
            lines.append(f"{name:<20} {v['AP50-95']:>8.4f} {v['AP50']:>8.4f}")
    if m.get("note"):
        lines.append(f"note: {m['note']}")
    sp = m.get("speed")
    if sp:
        lines.append(f"speed: {sp['preprocess']:.1f} ms pre-process, {sp['inference']:.1f} ms inference, "
                     f"{sp['nms']:.1f} ms NMS per image")
        lines.append(f"wall: {sp['total_s']:.2f} s = data loading {sp['load_s']:.2f} s + model {sp['model_s']:.2f} s "
                     f"+ NMS {sp['nms_s']:.2f} s + COCOeval {sp['cocoeval_s']:.2f} s"
                     + (f" + CUDA warm-up {sp['warmup_s']:.2f} s" if sp.get("warmup_s") else "") + " (+ evaluator updates)")
    return "\n".join(lines)
