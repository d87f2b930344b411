#!/usr/bin/env python3
"""Benchmarks whose results go in docs/results/benchmarks.md.

  python tools/benchmark.py model [--img 640] [--runs 30] [--cfg cfg/a.yaml cfg/b.yaml ...] [--scale n]
      params, GFLOPs and CPU latency (batch 1, fused, eval, after warm-up, median), all models timed
      interleaved in one run; latency ratios against the first cfg.
      [--peers yolo11n yolov8n yolo26n --yolo /tmp/yardstick/bin/yolo]: side by side with Ultralytics models,
      which its CLI exports to TorchScript (BN fused, decode inside); ours are timed eager and traced alike.
  python tools/benchmark.py nms [--boxes 1000 10000 30000] [--classes 80] [--device cpu]
      adaptive, DIoU and Soft-NMS time against torchvision's batched_nms, interleaved.
  python tools/benchmark.py loader [--data cfg/data/coco128.yaml --img 640 --workers 2]
      training loader img/s vs model train-step img/s (the loader must not be the bottleneck).
  python tools/benchmark.py memory-format [--data cfg/data/coco128.yaml --img 320 --batch 16]
      train step and fused eval forward, NCHW vs channels-last (the trainer's default), interleaved.
  python tools/benchmark.py crowd --weights W --images DIR --ann JSON [--classes person] [--iou-thres 0.5]
      greedy vs adaptive NMS: recall@0.5, AP50, mAP50-95.
  python tools/benchmark.py shapes [--device cuda] [--half] [--no-channels-last] [--no-cudnn]
      batch-1 forward at 10 new input shapes vs repeats: the cost of a new shape (CUDA kernel planning).
  python tools/benchmark.py detect --weights W.pt [--onnx W.onnx] [--img 640]
      detect.py end-to-end FPS on a generated 640x480 video, stage split; PyTorch rect / square, ONNX Runtime.
  python tools/benchmark.py deploy --weights W.pt --data D.yaml [--img 320] [--runs 50]
      PyTorch vs ONNX Runtime vs OpenVINO fp32 vs OpenVINO INT8: batch-1 latency (interleaved) and mAP.
  python tools/benchmark.py cocoeval --weights W.pt --data D.yaml --ann D_val.json [--big 5000]
      pycocotools vs faster-coco-eval: time and the 12 stats, on the split and on a replicated large set.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector import build_model  # noqa: E402
from detector.models import DecodedModel  # noqa: E402
from detector.models.summary import count_flops, count_params  # noqa: E402
from detector.utils.timing import machine_line, median_ms, time_interleaved  # noqa: E402

DEFAULT_CFGS = ["yolo_bifpn", "yolo_ca_bifpn", "yolo_se_bifpn", "yolo_cbam_bifpn", "yolo_eca_bifpn",
                "yolo_simam_bifpn", "yolo_base", "yolo_ca"]


def bench_model(args: argparse.Namespace) -> None:
    cfgs = args.cfg or [f"cfg/{c}.yaml" for c in DEFAULT_CFGS]
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.rand(1, 3, args.img, args.img)
    peers = _peer_modules(args) if args.peers else {}
    models, rows = {}, {}
    for c in cfgs:
        m = build_model(c, scale=args.scale)
        rows[c] = (count_params(m), count_flops(m, args.img))
        models[c] = m.eval().fuse()
    fns = {c: _runner(m, x) for c, m in models.items()}
    if peers:  # side by side with the peers' TorchScript files: ours traced the same way (decode in the graph)
        for c, m in models.items():
            fns[f"{c} ts"] = _runner(_trace(DecodedModel(m).eval(), x), x)
        for name, ts in peers.items():
            rows[name] = (count_params(ts), count_flops(ts, args.img))
            fns[f"{name} ts"] = _runner(ts, x)

    times = time_interleaved(fns, runs=args.runs, warmup=args.warmup)
    ref = cfgs[0]
    print(f"# model benchmark: scale {args.scale}, {args.img}x{args.img}, batch 1, fused, eval, "
          f"median of {args.runs} interleaved runs after {args.warmup} warm-up rounds")
    print(f"# machine: {machine_line()}")
    if not peers:
        print(f"| cfg | params (M) | GFLOPs@{args.img} | CPU ms/img | params vs {Path(ref).stem} | latency vs {Path(ref).stem} |")
        print("|---|---:|---:|---:|---:|---:|")
        p0, t0 = rows[ref][0], median_ms(times[ref])
        for c in cfgs:
            p, g = rows[c]
            t = median_ms(times[c])
            print(f"| {Path(c).stem} | {p / 1e6:.3f} | {g:.2f} | {t:.1f} | {p / p0:.3f} | {t / t0:.3f} |")
        return
    pref = next(iter(peers))
    t_ref = median_ms(times[f"{pref} ts"])
    print(f"# peers: Ultralytics models built from their YAML (80 classes), exported by its CLI as TorchScript "
          f"(BN fused, decode in the graph); ours: eager fused, and traced with the decode ({DecodedModel.__name__})")
    print(f"| model | params (M) | GFLOPs@{args.img} | CPU ms eager | CPU ms TorchScript | TorchScript vs {pref} |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in [*cfgs, *peers]:
        p, g = rows[k]
        eager = f"{median_ms(times[k]):.1f}" if k in times else "-"
        t = median_ms(times[f"{k} ts"])
        print(f"| {Path(k).stem} | {p / 1e6:.3f} | {g:.2f} | {eager} | {t:.1f} | {t / t_ref:.3f} |")


def _runner(m, x):
    def f():
        with torch.inference_mode():
            m(x)
    return f


def _trace(m, x):
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.trace(m, x)


def _peer_modules(args) -> dict:
    """The peers' TorchScript modules (exported by the yardstick CLI, cached under --peer-dir); none,
    with a message, when the CLI is absent."""
    import warnings

    from detector.ablation.peers import export_torchscript, find_yolo_cli

    cli = find_yolo_cli(args.yolo)
    if cli is None:
        print(f"# --peers {' '.join(args.peers)}: no Ultralytics CLI (--yolo, $DETECTOR_YOLO_CLI or yolo on PATH); "
              "timing ours only")
        return {}
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation notices
        for name in args.peers:
            out[name] = torch.jit.load(str(export_torchscript(cli, name, args.img, Path(args.peer_dir))),
                                       map_location="cpu").eval()
    return out


def bench_nms(args: argparse.Namespace) -> None:
    from torchvision.ops import batched_nms

    from detector.ops.nms import MAX_DET, adaptive_nms, diou_nms, soft_nms

    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    print(f"# NMS timing: random boxes in a 640x640 image (sizes 8-108 px), {args.classes} classes, "
          f"IoU threshold 0.5, densities U(0, 1); median of {args.runs} interleaved runs; device {device}")
    print(f"# machine: {machine_line()}")
    print(f"# Soft columns: each class stops after max_det {MAX_DET} picks, as non_max_suppression runs them")
    print("| boxes | batched_nms ms | adaptive ms | adaptive / batched_nms | DIoU ms | Soft (gaussian) ms "
          "| adaptive_soft (linear) ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.boxes:
        xy = torch.rand(n, 2, generator=g) * 600
        b = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 100 + 8], 1).to(device)
        s = torch.rand(n, generator=g).to(device)
        c = torch.randint(0, args.classes, (n,), generator=g).to(device)
        d = torch.rand(n, generator=g).to(device)
        fns = {"tv": lambda: batched_nms(b, s, c, 0.5), "adaptive": lambda: adaptive_nms(b, s, c, 0.5, d),
               "diou": lambda: diou_nms(b, s, c, 0.5)}
        if n <= args.soft_max:
            # as non_max_suppression runs them: each class stops after the max_det boxes an image keeps
            fns["soft"] = lambda: soft_nms(b, s, c, max_picks=MAX_DET)
            fns["adaptive_soft"] = lambda: soft_nms(b, s, c, iou_threshold=0.5, method="linear", densities=d,
                                                    max_picks=MAX_DET)
        t = {k: median_ms(v) for k, v in time_interleaved(fns, runs=args.runs, warmup=2).items()}
        soft, asoft = (f"{t[k]:.1f}" if k in t else "-" for k in ("soft", "adaptive_soft"))
        print(f"| {n} | {t['tv']:.2f} | {t['adaptive']:.2f} | {t['adaptive'] / t['tv']:.2f} | {t['diou']:.2f} | {soft} "
              f"| {asoft} |")


def _loader(a):
    from bench_cases import bench_loader
    print(bench_loader(a.data, a.img, a.batch, a.workers, a.batches, a.cfg))


def _memory_format(a):
    from bench_cases import bench_memory_format
    print(bench_memory_format(a.data, a.cfg, a.img, a.batch, a.runs, a.device))


def _distill(a):
    from bench_cases import bench_distill
    print(bench_distill(a.data, a.cfg, a.teacher, a.img, a.batch, a.runs, a.device))


def _crowd(a):
    from bench_cases import bench_crowd_nms
    print(bench_crowd_nms(a.weights, a.images, a.ann, a.img, a.iou_thres, a.classes, a.title))


def _shapes(a):
    from bench_cases import bench_shapes
    print(bench_shapes(a.cfg, a.img, a.device, a.half, a.channels_last, a.cudnn))


def _detect(a):
    from bench_cases import bench_detect
    print(bench_detect(a.weights, a.onnx, a.img, a.frames))


def _slicing(a):
    from bench_cases import bench_slicing
    print(bench_slicing(a.weights, a.images, a.img, a.sizes, a.n, a.runs))


def _deploy(a) -> None:
    from bench_deploy import bench_deploy

    raw = dict(r.split("=", 1) for r in a.raw)
    print(bench_deploy(a.weights, a.data, a.img, a.runs, a.out, a.calib_images, raw=raw))


def _cocoeval(a) -> None:
    from bench_deploy import bench_cocoeval

    print(bench_cocoeval(a.ann, a.weights, a.data, a.img, a.big, a.out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    _add_model_and_nms(sub)
    _add_training(sub)
    _add_inference(sub)
    args = ap.parse_args(argv)
    args.func(args)
    return 0


def _add_model_and_nms(sub) -> None:
    pm = sub.add_parser("model", help="params, GFLOPs, CPU latency per cfg")
    pm.add_argument("--cfg", nargs="*", help="model YAMLs (default: all shipped cfgs, yolo_bifpn first)")
    pm.add_argument("--scale", default="n")
    pm.add_argument("--img", type=int, default=640)
    pm.add_argument("--runs", type=int, default=30)
    pm.add_argument("--warmup", type=int, default=3)
    pm.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    pm.add_argument("--peers", nargs="*", default=[], help="Ultralytics models timed side by side, e.g. yolo11n "
                    "yolov8n (exported to TorchScript by the yardstick CLI; the first is the reference)")
    pm.add_argument("--yolo", default=None, help="the Ultralytics CLI (default: $DETECTOR_YOLO_CLI, else yolo on PATH)")
    pm.add_argument("--peer-dir", default="runs/bench/peers", help="where the peers' exports are cached")
    pm.set_defaults(func=bench_model)
    pn = sub.add_parser("nms", help="adaptive / DIoU / Soft-NMS time vs torchvision batched_nms")
    pn.add_argument("--boxes", type=int, nargs="*", default=[1000, 10000, 30000])
    pn.add_argument("--classes", type=int, default=80)
    pn.add_argument("--runs", type=int, default=20)
    pn.add_argument("--soft-max", type=int, default=10000, help="skip Soft-NMS above this many boxes")
    pn.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    pn.set_defaults(func=bench_nms)


def _add_training(sub) -> None:
    pl = sub.add_parser("loader", help="training loader img/s vs model train-step img/s")
    pl.add_argument("--data", default="cfg/data/coco128.yaml")
    pl.add_argument("--cfg", default="cfg/yolo_ca_bifpn.yaml")
    pl.add_argument("--img", type=int, default=640)
    pl.add_argument("--batch", type=int, default=16)
    pl.add_argument("--workers", type=int, default=2)
    pl.add_argument("--batches", type=int, default=12)
    pl.set_defaults(func=_loader)
    pf = sub.add_parser("memory-format", help="train step and eval forward: NCHW vs channels-last")
    pf.add_argument("--data", default="cfg/data/coco128.yaml")
    pf.add_argument("--cfg", default="cfg/yolo_ca_bifpn.yaml")
    pf.add_argument("--img", type=int, default=320)
    pf.add_argument("--batch", type=int, default=16)
    pf.add_argument("--runs", type=int, default=10)
    pf.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    pf.set_defaults(func=_memory_format)
    pk = sub.add_parser("distill", help="training step with and without --teacher (distillation cost)")
    pk.add_argument("--teacher", required=True)
    pk.add_argument("--data", default="cfg/data/synthetic_heldout.yaml")
    pk.add_argument("--cfg", default="cfg/yolo_ca_bifpn.yaml")
    pk.add_argument("--img", type=int, default=320)
    pk.add_argument("--batch", type=int, default=16)
    pk.add_argument("--runs", type=int, default=10)
    pk.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    pk.set_defaults(func=_distill)


def _add_inference(sub) -> None:
    pc = sub.add_parser("crowd", help="greedy vs adaptive NMS on an annotated image set")
    pc.add_argument("--weights", required=True)
    pc.add_argument("--images", required=True)
    pc.add_argument("--ann", required=True, help="COCO json")
    pc.add_argument("--img", type=int, default=640)
    pc.add_argument("--iou-thres", type=float, default=0.5)
    pc.add_argument("--classes", nargs="*", default=None, help="restrict to these class names (e.g. person)")
    pc.add_argument("--title", default="crowd NMS")
    pc.set_defaults(func=_crowd)
    ps = sub.add_parser("shapes", help="first forward at new input shapes vs repeats (CUDA kernel planning)")
    ps.add_argument("--cfg", default="cfg/yolo_ca_bifpn.yaml")
    ps.add_argument("--img", type=int, default=640)
    ps.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ps.add_argument("--half", action="store_true")
    ps.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    ps.add_argument("--cudnn", action=argparse.BooleanOptionalAction, default=True)
    ps.set_defaults(func=_shapes)
    pd = sub.add_parser("detect", help="detect.py FPS on a 640x480 video; PyTorch vs ONNX Runtime")
    pd.add_argument("--weights", required=True)
    pd.add_argument("--onnx", default=None)
    pd.add_argument("--img", type=int, default=640)
    pd.add_argument("--frames", type=int, default=60)
    pd.set_defaults(func=_detect)
    pz = sub.add_parser("slicing", help="Detector latency without and with sliced inference (--slice)")
    pz.add_argument("--weights", required=True)
    pz.add_argument("--images", required=True, help="a folder of images")
    pz.add_argument("--img", type=int, default=640)
    pz.add_argument("--sizes", type=int, nargs="+", default=[320, 256])
    pz.add_argument("--n", type=int, default=20, help="images")
    pz.add_argument("--runs", type=int, default=3)
    pz.set_defaults(func=_slicing)
    pe = sub.add_parser("deploy", help="latency and mAP: PyTorch, ONNX Runtime, OpenVINO fp32 / INT8")
    pe.add_argument("--weights", required=True)
    pe.add_argument("--data", required=True)
    pe.add_argument("--img", type=int, default=320)
    pe.add_argument("--runs", type=int, default=50)
    pe.add_argument("--calib-images", type=int, default=300)
    pe.add_argument("--out", default="runs/bench_deploy")
    pe.add_argument("--raw", nargs="*", default=[], metavar="NAME=PATH",
                    help="also time these exports' forward (e.g. a peer's ONNX / OpenVINO export), interleaved")
    pe.set_defaults(func=_deploy)
    pv = sub.add_parser("cocoeval", help="pycocotools vs faster-coco-eval: time and agreement")
    pv.add_argument("--weights", required=True)
    pv.add_argument("--data", required=True)
    pv.add_argument("--ann", required=True, help="the val split's COCO json")
    pv.add_argument("--img", type=int, default=320)
    pv.add_argument("--big", type=int, default=5000)
    pv.add_argument("--out", default="runs/bench_cocoeval")
    pv.set_defaults(func=_cocoeval)

if __name__ == "__main__":
    sys.exit(main())
