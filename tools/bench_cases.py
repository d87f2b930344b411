"""Benchmark routines behind tools/benchmark.py (figures go to docs/results/benchmarks.md)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from detector.data.transforms import normalize_images
from detector.utils.timing import machine_line, median_ms, time_interleaved


def bench_loader(data: str, img: int, batch: int, workers: int, batches: int, cfg: str) -> str:
    """Training loader img/s (mosaic + affine) vs model train-step img/s at the same size."""
    from detector.data import DetectionDataset, build_dataloader, index_split, load_data_config
    from detector.models import build_model

    idx = index_split(load_data_config(data), "train")
    ds = DetectionDataset(idx.records, img, augment=True)
    loader, sampler = build_dataloader(ds, batch, workers, True, 0)
    sampler.set_epoch(0)
    it = iter(loader)
    next(it)  # start the workers
    t0, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            b = next(it)
        except StopIteration:
            sampler.set_epoch(1)
            it = iter(loader)
            b = next(it)
        n += len(b["images"])
    loader_ips = n / (time.perf_counter() - t0)
    model = build_model(cfg, nc=len(idx.names)).train()
    crit = model.head.build_loss({})
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = normalize_images(b["images"])

    def step():
        loss, _ = crit(model(x), b["targets"], b["crowd"])
        opt.zero_grad()
        loss.backward()
        opt.step()

    ts = time_interleaved({"step": step}, runs=5, warmup=1)["step"]
    model_ips = len(x) / (median_ms(ts) / 1000)
    return (f"# loader: {data}, img {img}, batch {batch}, {workers} workers, mosaic+affine+HSV+flip, {n} images\n"
            f"# machine: {machine_line()}\n"
            f"| loader img/s | model train-step img/s ({Path(cfg).stem}, n) | ratio loader / model |\n|---:|---:|---:|\n"
            f"| {loader_ips:.1f} | {model_ips:.1f} | {loader_ips / model_ips:.2f} |")


def bench_memory_format(data: str, cfg: str, img: int, batch: int, runs: int, device: str = "cpu") -> str:
    """Training step (forward, loss, backward, SGD step) and fused eval forward, contiguous (NCHW)
    vs channels-last (NHWC) copies of one model on one real augmented batch, timed interleaved."""
    import copy

    from detector.data import DetectionDataset, build_dataloader, index_split, load_data_config
    from detector.models import build_model

    dev = torch.device(device)
    idx = index_split(load_data_config(data), "train")
    loader, sampler = build_dataloader(DetectionDataset(idx.records, img, augment=True), batch, 0, True, 0)
    sampler.set_epoch(0)
    b = next(iter(loader))
    x = (normalize_images(b["images"])).to(dev)
    targets, crowd = b["targets"].to(dev), b["crowd"].to(dev)
    torch.manual_seed(0)
    base = build_model(cfg, nc=len(idx.names)).to(dev)
    fmts = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    train_fns, eval_fns = {}, {}
    for name, fmt in fmts.items():
        m = copy.deepcopy(base).to(memory_format=fmt).train()
        crit = m.head.build_loss({})
        opt = torch.optim.SGD(m.parameters(), lr=1e-4, momentum=0.9)
        xf = x.contiguous(memory_format=fmt)
        fused = copy.deepcopy(base).eval().fuse().to(memory_format=fmt)

        def step(m=m, crit=crit, opt=opt, xf=xf):
            loss, _ = crit(m(xf), targets, crowd)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def infer(fused=fused, xf=xf):
            with torch.inference_mode():
                fused(xf)
            if dev.type == "cuda":
                torch.cuda.synchronize()

        train_fns[name], eval_fns[name] = step, infer
    tt = {k: median_ms(v) for k, v in time_interleaved(train_fns, runs=runs, warmup=2).items()}
    te = {k: median_ms(v) for k, v in time_interleaved(eval_fns, runs=runs, warmup=2).items()}
    lines = [f"# memory format: {Path(cfg).stem} n, {data} train batch of {batch} at {img} px (augmented), "
             f"device {dev}, fp32, median of {runs} interleaved runs",
             f"# machine: {machine_line()}",
             "| memory format | train step img/s | fused eval img/s | train speed-up | eval speed-up |",
             "|---|---:|---:|---:|---:|"]
    for k in fmts:
        lines.append(f"| {k} | {batch / tt[k] * 1000:.1f} | {batch / te[k] * 1000:.1f} | "
                     f"{tt['contiguous'] / tt[k]:.2f} | {te['contiguous'] / te[k]:.2f} |")
    return "\n".join(lines)


def bench_distill(data: str, cfg: str, teacher: str, img: int, batch: int, runs: int, device: str = "cpu") -> str:
    """Training step (forward, loss, backward, SGD step) of the student alone vs with distillation in each mode
    (the teacher's forward, the projectors, the distillation terms), copies of one model on one real augmented
    batch, timed interleaved (the cost of ``--teacher`` in the training loop, data loading left out). The
    distillation runs through :class:`~detector.train.distill.Distillation` itself, on a stand-in trainer."""
    import copy
    from types import SimpleNamespace

    from detector.data import DetectionDataset, build_dataloader, index_split, load_data_config
    from detector.train.distill import Distillation, heads_match, load_teacher
    from detector.hyp import DEFAULT_HYP
    from detector.loss.detection_loss import weighted_total
    from detector.models import build_model

    dev, fmt = torch.device(device), torch.channels_last
    idx = index_split(load_data_config(data), "train")
    loader, sampler = build_dataloader(DetectionDataset(idx.records, img, augment=True), batch, 0, True, 0)
    sampler.set_epoch(0)
    b = next(iter(loader))
    x = normalize_images(b["images"]).to(dev).contiguous(memory_format=fmt)
    targets, crowd = b["targets"].to(dev), b["crowd"].to(dev)
    torch.manual_seed(0)
    base = build_model(cfg, nc=len(idx.names)).to(dev).to(memory_format=fmt)
    t_model = load_teacher(teacher, dev, fmt)
    logits_ok = heads_match(base, t_model) is None
    cases = [("student", None, 1.0), ("+ teacher, --distill both", "both", 1.0),
             ("+ teacher, --distill feature (teacher up to its neck)", "feature", 1.0),
             ("+ teacher, --distill logit", "logit", 1.0),
             ("+ teacher, --distill logit, hyp distill_fraction 0.5", "logit", 0.5)]
    fns = {}
    for name, mode, fraction in cases:
        if mode in ("both", "logit") and not logits_ok:
            continue  # another head layout: no logit terms
        m = copy.deepcopy(base).train()
        crit = m.head.build_loss({})
        trainer = SimpleNamespace(model=m, device=dev, memory_format=fmt, amp_dtype=None, log=lambda msg: None,
                                  hyp={**DEFAULT_HYP, "distill_fraction": fraction}, loss_gains={**DEFAULT_HYP})
        params = list(m.parameters())
        kd = None
        if mode is not None:
            kd = Distillation(trainer, teacher, mode)
            kd.on_train_start(trainer)
            params += kd.trainable_params
        opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9)

        def step(m=m, crit=crit, opt=opt, kd=kd, trainer=trainer):
            trainer.imgs = x
            trainer.preds = m(x)
            terms = crit.terms(trainer.preds, targets, crowd)
            if kd is not None:
                kd.on_loss(trainer, terms)
            loss = weighted_total(terms, trainer.loss_gains, len(x))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
        fns[name] = step
    t = {k: median_ms(v) for k, v in time_interleaved(fns, runs=runs, warmup=2).items()}
    n_t = sum(p.numel() for p in t_model.parameters()) / 1e6
    lines = [f"# distillation cost: {Path(cfg).stem} student, teacher {teacher} ({n_t:.2f}M params, fused), {data} "
             f"train batch of {batch} at {img} px, device {dev}, fp32, median of {runs} interleaved runs",
             f"# machine: {machine_line()}",
             "| training step | ms | img/s | x student alone |", "|---|---:|---:|---:|"]
    for k, v in t.items():
        lines.append(f"| {k} | {v:.0f} | {batch / v * 1000:.1f} | {v / t['student']:.2f} |")
    return "\n".join(lines)


def bench_crowd_nms(weights: str, images: str, ann: str, img: int, iou: float, classes: list[str] | None,
                    title: str) -> str:
    """Greedy vs adaptive NMS (same model, same N_t) on one annotated image set."""
    from detector.data import DetectionDataset, build_dataloader
    from detector.data.coco_index import index_coco
    from detector.checkpoint import load_checkpoint, model_from_checkpoint
    from detector.eval.val_loop import run_validation
    from detector.metrics.coco_eval import COCOEvaluator, load_coco

    records, _, cat_ids, names = index_coco(Path(images), Path(ann), "val")
    model = model_from_checkpoint(load_checkpoint(weights), weights).eval().fuse()
    loader, _ = build_dataloader(DetectionDataset(records, img, rect=True, batch_size=16), 16, 0, False)
    only = [cat_ids[names.index(c)] for c in classes] if classes else None
    rows = []
    for method in ("greedy", "adaptive"):
        ev = COCOEvaluator(cat_ids, names, gt=load_coco(ann))
        m = run_validation(model, loader, ev, torch.device("cpu"), 0.001, iou, method, progress=False)
        if only:
            from detector.metrics.coco_eval import evaluate_arrays
            dets = np.concatenate(ev.rows) if ev.rows else np.zeros((0, 7))
            m = evaluate_arrays(ev.ground_truth(), dets, sorted(set(ev.image_ids)), cat_ids, names, only)
        rows.append((method, m["recall50"], m["mAP50"], m["mAP50-95"]))
    g, a = rows
    out = [f"# {title}: {len(records)} images, N_t = {iou}, conf 0.001, max_det 300, img {img}, weights {weights}",
           "| NMS | recall@0.5 (AR100) | AP50 | mAP50-95 |", "|---|---:|---:|---:|"]
    out += [f"| {r[0]} | {r[1]:.4f} | {r[2]:.4f} | {r[3]:.4f} |" for r in rows]
    out.append(f"| adaptive - greedy | {a[1] - g[1]:+.4f} | {a[2] - g[2]:+.4f} | {a[3] - g[3]:+.4f} |")
    return "\n".join(out)


def bench_detect(weights: str, onnx: str | None, img: int, frames: int, rounds: int = 2) -> str:
    """End-to-end detect FPS on a generated 640x480 video: PyTorch with rectangular input (the
    default), PyTorch square (--no-rect) and ONNX Runtime (static, square), interleaved over
    ``rounds`` rounds; each variant's fastest round is reported."""
    import tempfile

    from detector.data.synthetic import make_video
    from detector.predict.detect_sources import DetectOptions, run_detect
    from detector.predict import Detector

    tmp = Path(tempfile.mkdtemp())
    vid = make_video(tmp / "bench.mp4", frames=frames, size=(640, 480))
    variants = {"PyTorch, rect (default)": (weights, True), "PyTorch, square (--no-rect)": (weights, False)}
    if onnx:
        variants["ONNX Runtime (static, square)"] = (onnx, False)
    best: dict[str, tuple[float, object]] = {}
    for r in range(rounds):
        for j, (k, (w, rect)) in enumerate(variants.items()):
            det = Detector(w, img=img, rect=rect)
            t0 = time.perf_counter()
            run_detect(det, str(vid), tmp / f"round{r}_variant{j}", DetectOptions())
            dt = time.perf_counter() - t0
            if k not in best or dt < best[k][0]:
                best[k] = (dt, det.timing)
    ref = best["PyTorch, square (--no-rect)"][0]
    lines = [f"# detect: {frames}-frame 640x480 video, img {img}, batch 1, conf 0.25, best of {rounds} interleaved "
             f"rounds; machine: {machine_line()}",
             "| variant | end-to-end FPS | pre-process ms | inference ms | NMS ms | FPS vs PyTorch square |",
             "|---|---:|---:|---:|---:|---:|"]
    for k, (dt, t) in best.items():
        n = max(t.images, 1)
        lines.append(f"| {k} | {t.images / dt:.1f} | {1000 * t.pre / n:.1f} | {1000 * t.inference / n:.1f} | "
                     f"{1000 * t.nms / n:.1f} | {ref / dt:.2f} |")
    return "\n".join(lines)


def bench_shapes(cfg: str, img: int, device: str, half: bool, channels_last: bool, cudnn: bool) -> str:
    """First forward at each of 10 new input shapes (the rectangles a 640 letterbox makes of landscape and
    portrait images) vs a repeat at the same shapes: what a folder of mixed-size images costs when every
    batch has its own shape. One setting per process (the library caches plans across models)."""
    from detector import build_model

    torch.backends.cudnn.enabled = cudnn
    dev = torch.device(device)
    m = build_model(cfg, nc=80).to(dev).fuse().eval()
    m = m.to(memory_format=torch.channels_last) if channels_last else m
    dt = torch.float16 if half and dev.type == "cuda" else torch.float32
    m = m.to(dt)
    short = list(range(img * 3 // 4 // 32 * 32, 0, -32))[:5]  # 480, 448, 416, 384, 352 at 640
    shapes = [(s, img) for s in short] + [(img, s) for s in short]

    def once(h: int, w: int) -> float:
        x = torch.rand(1, 3, h, w, device=dev, dtype=dt)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t = time.perf_counter()
        with torch.no_grad():
            m(x)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - t

    once(img, img)  # library load and the square shape: not counted
    first = [once(*s) for s in shapes]
    again = [once(*s) for s in shapes]
    setting = (f"{'fp16' if dt == torch.float16 else 'fp32'}, {'channels-last' if channels_last else 'contiguous'}, "
               f"cuDNN {'on' if cudnn else 'off'}")
    return (f"# new input shapes: {Path(cfg).stem} n, batch 1, {len(shapes)} shapes {shapes[0]}..{shapes[-1]}, device {dev}, "
            f"{setting}\n# {machine_line()}\n"
            f"| setting | first call per new shape, median ms (max) | repeat, median ms |\n|---|---:|---:|\n"
            f"| {setting} | {median_ms(first):.1f} ({1000 * max(first):.1f}) | {median_ms(again):.1f} |")


def bench_slicing(weights: str, images: str, img: int, sizes: list[int], n: int, runs: int) -> str:
    """Detector latency per image without and with sliced inference (tiles of each size, 0.2 overlap, with the
    whole image), the candidates interleaved round by round on the same ``n`` images; and how many boxes each
    gives at conf 0.25. Untrained weights measure the cost as well as trained ones do (the work is the same)."""
    from pathlib import Path

    from detector import Detector
    from detector.data.image_io import read_image
    from detector.utils.timing import median_ms, time_interleaved

    paths = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    arrays = [read_image(p) for p in paths]
    dets = {"whole image": Detector(weights, "cpu", img)}
    for s in sizes:
        dets[f"slice {s}"] = Detector(weights, "cpu", img, slice=s, slice_overlap=0.2)
    fns = {k: (lambda d=d: [d.predict_arrays([a]) for a in arrays]) for k, d in dets.items()}
    times = time_interleaved(fns, runs=runs, warmup=1)
    base = median_ms(times["whole image"])
    hw = [a.shape[:2] for a in arrays]
    lines = [f"# sliced inference cost: {len(arrays)} images from {images} (mean {sum(h for h, _ in hw) / len(hw):.0f}x"
             f"{sum(w for _, w in hw) / len(hw):.0f}), --img {img}, CPU, median of {runs} interleaved rounds",
             "| mode | tiles per image (mean) | ms per image | vs whole image |", "|---|---:|---:|---:|"]
    from detector.predict.slicing import tile_grid

    for k, ts in times.items():
        ms = median_ms(ts) / len(arrays)
        s = int(k.split()[1]) if k.startswith("slice") else None
        tiles = sum((lambda g: len(g) + (len(g) > 1))(tile_grid(h, w, s, 0.2)) for h, w in hw) / len(hw) if s else 1
        lines.append(f"| {k} | {tiles:.1f} | {ms:.1f} | {median_ms(ts) / base:.2f}x |")
    return "\n".join(lines)
