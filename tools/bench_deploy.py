"""Deployment benchmarks behind ``tools/benchmark.py deploy`` and ``cocoeval`` (results: docs/results/benchmarks.md).

deploy: one checkpoint exported to ONNX (fp32 and INT8 by ONNX Runtime static quantization), OpenVINO (fp32)
and OpenVINO INT8 (NNCF); INT8 calibrated on the data's train split; every variant's batch-1 latency on real val images (interleaved rounds, median) and its
COCO mAP on the val split through tools/val.py's evaluation; the in-graph NMS exports checked against ours.
cocoeval: pycocotools vs faster-coco-eval on the same detections: the 12 stats and the time, on a split and on
a large set built by replicating its images with jittered boxes.
"""
from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from detector.data import index_split, load_data_config
from detector.data.image_io import read_image
from detector.data.transforms import normalize_images
from detector.checkpoint import load_checkpoint, model_from_checkpoint
from detector.predict.predictor import Predictor
from detector.eval import ValConfig, evaluate
from detector.export import ExportJob, export_model, open_exported
from detector.metrics.coco_eval import STAT_KEYS, coco_from_dict, evaluate_arrays, load_coco
from detector.utils.timing import machine_line, median_ms, time_interleaved


def raw_forward(path: str):
    """Forward of any ONNX file or OpenVINO folder (e.g. a peer's export): float32 NCHW 0..1 in, outputs ignored;
    the same runtime settings as ours (onnxruntime CPU; OpenVINO CPU, f32 hint, latency mode)."""
    p = Path(path)
    if p.suffix == ".onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda x: sess.run(None, {name: x})
    import openvino as ov

    xml = next(p.glob("*.xml")) if p.is_dir() else p
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                          "PERFORMANCE_HINT": "LATENCY"})
    req = compiled.create_infer_request()
    return lambda x: req.infer({0: x})


def bench_deploy(weights: str, data: str, img: int, runs: int, out_dir: str, calib_images: int = 300,
                 lat_images: int = 8, raw: dict[str, str] | None = None) -> str:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(weights).stem
    paths = {"PyTorch fp32 (fused)": Path(weights)}
    t0 = time.perf_counter()
    paths["ONNX Runtime fp32"] = export_model(ExportJob(weights, "onnx", img, output=str(out / f"{stem}.onnx")))
    t_onnx = time.perf_counter() - t0
    paths["OpenVINO fp32"] = export_model(ExportJob(weights, "openvino", img, output=str(out / f"{stem}_openvino_model")))
    t0 = time.perf_counter()
    paths["OpenVINO INT8 (NNCF)"] = export_model(ExportJob(weights, "openvino", img, int8=True, data=data,
                                                           calib_images=calib_images,
                                                           output=str(out / f"{stem}_int8_openvino_model")))
    t_int8 = time.perf_counter() - t0
    paths["ONNX Runtime INT8 (QDQ)"] = export_model(ExportJob(weights, "onnx", img, int8=True, data=data,
                                                              calib_images=calib_images,
                                                              output=str(out / f"{stem}_int8.onnx")))
    # latency: batch 1, square img, real val images, decode included, NMS excluded (same for all)
    idx = index_split(load_data_config(data), "val")
    ims = [read_image(r.path) for r in idx.records[:lat_images]]
    model = model_from_checkpoint(load_checkpoint(weights), weights).eval().fuse().to(memory_format=torch.channels_last)
    preds = {"PyTorch fp32 (fused)": Predictor.from_model(model, torch.device("cpu"), img=img, rect=False)}
    for k, p in paths.items():
        if k != "PyTorch fp32 (fused)":
            preds[k] = Predictor.from_exported(open_exported(p), img=img, rect=False)
    xs = [preds["PyTorch fp32 (fused)"].preprocess([im])[0] for im in ims]
    state = {"i": 0}

    def caller(p):
        def fn():
            p.forward(xs[state["i"] % len(xs)])
        return fn

    fns = {k: caller(p) for k, p in preds.items()}
    for name, path in (raw or {}).items():  # peers' exports: the forward alone, on the same letterboxed inputs
        f = raw_forward(path)
        fns[name] = (lambda f: lambda: f(normalize_images(xs[state["i"] % len(xs)]).numpy()))(f)
    times = {k: [] for k in fns}
    for r in range(runs):  # interleaved: each round runs every variant on the same image
        state["i"] = r
        for k, ts in time_interleaved(fns, runs=1, warmup=1 if r == 0 else 0).items():
            times[k] += ts
    lat = {k: median_ms(v) for k, v in times.items()}
    rows = []
    for k, p in paths.items():
        m = evaluate(ValConfig(weights=str(p), data=data, img=img, batch=16, device="cpu", rect=False, plots=False,
                               save_json=False, workers=2), out / "val" / re.sub(r"\W+", "_", k).strip("_").lower())
        rows.append((k, lat[k], m["mAP50-95"], m["mAP50"]))
    ref_ort = lat["ONNX Runtime fp32"]
    base = rows[0][2]
    lines = [machine_line(), f"{weights}, {img} px, data {data} (val split, {len(idx.records)} images), "
             f"latency: batch 1, median of {runs} interleaved rounds over {len(ims)} val images, decode included, "
             f"NMS excluded; export {t_onnx:.1f} s (ONNX), NNCF INT8 calibration on {calib_images} train images "
             f"{t_int8:.1f} s", "",
             "| runtime | latency ms | vs ONNX Runtime fp32 | mAP50-95 | mAP50 | Δ mAP50-95 x100 vs PyTorch |",
             "|---|---:|---:|---:|---:|---:|"]
    for k, ms, ap, ap50 in rows:
        lines.append(f"| {k} | {ms:.1f} | {ref_ort / ms:.2f}x | {ap:.4f} | {ap50:.4f} | {100 * (ap - base):+.2f} |")
    for k in raw or {}:
        lines.append(f"| {k} (forward only) | {lat[k]:.1f} | {ref_ort / lat[k]:.2f}x | | | |")
    return "\n".join(lines)


def replicate(gt_dict: dict, dets: np.ndarray, n_images: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """A large ground truth + detections set from a real one: images copied under new ids until ``n_images``,
    each copy's boxes (ground truth and detections alike) jittered by a few pixels."""
    rng = np.random.default_rng(seed)
    imgs, anns, rows = [], [], []
    src_imgs = gt_dict["images"]
    by_img: dict[int, list] = {}
    for a in gt_dict["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    det_by_img: dict[int, np.ndarray] = {}
    for i in np.unique(dets[:, 0]):
        det_by_img[int(i)] = dets[dets[:, 0] == i]
    aid = 1
    for k in range(n_images):
        im = src_imgs[k % len(src_imgs)]
        new_id = k + 1
        imgs.append({**im, "id": new_id})
        for a in by_img.get(im["id"], []):
            x, y, w, h = a["bbox"]
            j = rng.normal(0, 2, 2)
            anns.append({**a, "id": aid, "image_id": new_id, "bbox": [x + j[0], y + j[1], w, h]})
            aid += 1
        d = det_by_img.get(im["id"])
        if d is not None:
            d = d.copy()
            d[:, 0] = new_id
            d[:, 1:3] += rng.normal(0, 2, (len(d), 2))
            rows.append(d)
    out = copy.copy(gt_dict)
    out.update(images=imgs, annotations=anns)
    return out, np.concatenate(rows)


def bench_cocoeval(ann: str, weights: str, images_data: str, img: int, big: int, out_dir: str) -> str:
    """pycocotools vs faster-coco-eval on real predictions: a model run over the data's val split (``weights``
    a checkpoint), or an existing COCO results file (``weights`` a .json)."""
    if not weights.endswith(".json"):
        evaluate(ValConfig(weights=weights, data=images_data, img=img, batch=16, device="cpu", plots=False,
                           save_json=True, workers=2), Path(out_dir))
    pred_file = Path(weights) if weights.endswith(".json") else Path(out_dir) / "predictions.json"
    preds = json.loads(pred_file.read_text())
    gt = load_coco(ann)
    dets = np.array([[p["image_id"], *p["bbox"], p["score"], p["category_id"]] for p in preds], np.float64)
    lines = [machine_line(), f"predictions: {weights} on {images_data} ({len(preds)} detections, conf 0.001); "
             f"time: loadRes + evaluate + accumulate + summarize, best of 3", "",
             "| set | images | detections | pycocotools s | faster-coco-eval s | speed-up | max |Δ| of the 12 stats |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    sets = [("real val split", gt.dataset, dets)]
    sets.append((f"replicated to {big}", *replicate(gt.dataset, dets, big)))
    cats = sorted(gt.getCatIds())
    for name, d, x in sets:
        g = coco_from_dict(d)
        res, tt = {}, {}
        for backend in ("pycocotools", "faster"):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                res[backend] = evaluate_arrays(g, x, None, cats, [str(c) for c in cats], backend=backend)
                best = min(best, time.perf_counter() - t0)
            tt[backend] = best
        diff = max(abs(res["faster"][k] - res["pycocotools"][k]) for k in STAT_KEYS)
        lines.append(f"| {name} | {len(d['images'])} | {len(x)} | {tt['pycocotools']:.2f} | {tt['faster']:.2f} | "
                     f"{tt['pycocotools'] / tt['faster']:.1f}x | {diff:.1e} |")
    return "\n".join(lines)
