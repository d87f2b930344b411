"""The ablation harness behind ``tools/ablate.py``: every (cfg, seed) trained with one recipe, each
run evaluated with every requested NMS method (re-evaluation, no retraining), model costs measured
once per cfg, peers (Ultralytics models) trained and scored by the same evaluator, and the tables
written by :mod:`detector.ablation.report`.

Layout under ``project/name``::

    runs/<cfg>-s<seed>/      a normal training run (weights/last.pt, results.csv, ...) + eval/<nms>/
    runs/<cfg>-s<seed>/ablation_run.json    the run's metrics: written last, so its presence = done
    peers/...                Ultralytics runs (see peers.py)
    costs.json               params, GFLOPs@640, CPU latency per cfg
    ablation.csv / ablation.md / ablation.png

Resumable: a run with ``ablation_run.json`` is skipped; a run with ``weights/last.pt`` and no
``ablation_run.json`` resumes (or, when all its epochs are done, is only evaluated); the recipe is
stored and a second invocation with another recipe under the same name is refused.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..train.trainer import TrainConfig
from ..utils.io import write_json
from .keys import EVAL_KEYS, eval_key, main_key

@dataclass
class Recipe:
    """What every candidate shares: data, epochs, image size, batch (and our hyperparameters)."""
    data: str
    epochs: int
    img: int
    batch: int
    workers: int = 2
    hyp: str | None = None
    val_period: int | None = None  # validate every N epochs while training (default: after the last only)
    device: str = "cpu"
    weights: str | None = None  # pretrained start for every cfg (layers matched by structure), else scratch
    teacher: str | None = None  # knowledge distillation for every cfg from this checkpoint (train/distill.py)
    distill: str = TrainConfig.distill
    distill_loss: str = TrainConfig.distill_loss
    distill_gain: float = TrainConfig.distill_gain
    peer_weights: dict = field(default_factory=dict)  # peer name -> checkpoint it fine-tunes from (else scratch)
    optimizer: str = TrainConfig.optimizer  # ours, for every cfg (peers keep their own recipe)
    freeze: int = TrainConfig.freeze  # freeze the first N layers of every cfg (a fine-tuning recipe)


@dataclass
class AblationConfig:
    cfgs: list[str]
    seeds: list[int]
    recipe: Recipe
    nms: list[str] = field(default_factory=lambda: ["greedy"])  # the first is the one the main table uses
    nms_iou: list[float] = field(default_factory=list)  # IoU thresholds to sweep each method over (else the default)
    project: str = "runs/ablate"
    name: str = "exp"
    peers: list[str] = field(default_factory=list)  # e.g. ["yolov8n", "yolo11n"]
    yolo: str | None = None  # the Ultralytics CLI of a yardstick environment
    latency_runs: int = 20
    max_batches: int | None = None  # tests: stop each epoch early
    report_only: bool = False  # tabulate the finished runs, train nothing (e.g. while another process trains)
    rescore: bool = False  # evaluate finished runs again (ours from weights, peers from predictions)


def model_key(cfg: str) -> str:
    """'cfg/yolo_ca_bifpn-s.yaml' -> 'yolo_ca_bifpn-s'."""
    return Path(cfg).stem


def recipe_hyp_values(recipe: dict) -> dict:
    """The hyperparameter values a project's runs were trained with: stored in ``recipe.json`` since
    they are recorded; for older projects, read from its ``--hyp`` file with the keys added since at
    the values that reproduce the old behaviour (``HYP_BEFORE``)."""
    from ..train.hyp import load_hyp

    if "hyp_values" in recipe:  # keys added after it was written: their value before they existed
        return load_hyp(None, overrides=recipe["hyp_values"], before_keys=True)
    return load_hyp(recipe.get("hyp"), before_keys=True)


def _check_recipe(root: Path, cfg: AblationConfig) -> None:
    """Same data, schedule and hyperparameter *values* as the runs already in ``root`` (another --hyp
    file with the same values is fine; the defaults changing between versions is not), or refuse."""
    from ..train.hyp import load_hyp

    p = root / "recipe.json"
    want = {**asdict(cfg.recipe), "max_batches": cfg.max_batches, "hyp_values": load_hyp(cfg.recipe.hyp)}
    if p.is_file():
        have = json.loads(p.read_text(encoding="utf-8"))
        have.setdefault("weights", None)  # projects made before --weights existed trained from scratch
        have.setdefault("peer_weights", {})  # ... and before --peer-weights, peers too
        for k in ("teacher", "distill", "distill_loss", "distill_gain",  # ... and before --teacher: no teacher
                  "optimizer", "freeze"):  # ... and before --optimizer / --freeze: SGD, nothing frozen
            have.setdefault(k, getattr(Recipe, k))
        have["hyp_values"] = recipe_hyp_values(have)
        ignore = {"hyp", "hyp_values"}
        if not want.get("teacher") and not have.get("teacher"):  # no teacher: the distillation options do nothing
            ignore |= {"distill", "distill_loss", "distill_gain"}
        diff = sorted(k for k in set(want) | set(have) if k not in ignore and want.get(k) != have.get(k))
        h_have, h_want = have["hyp_values"], want["hyp_values"]
        diff += sorted(k for k in set(h_want) | set(h_have) if h_want.get(k) != h_have.get(k))
        if diff:
            there = {k: have.get(k, h_have.get(k)) for k in diff}
            now = {k: want.get(k, h_want.get(k)) for k in diff}
            raise ValueError(f"{root}: holds runs made with another recipe (differs in {diff}: {there} there, "
                             f"{now} now); use another --name, or a --hyp file with the values there")
    else:
        write_json(p, want)


def train_run(cfg_path: str, seed: int, cfg: AblationConfig, runs_dir: Path) -> Path:
    """Train (or resume) one run; returns its folder."""
    from ..checkpoint.file import load_checkpoint
    from ..train.trainer import Trainer

    r = cfg.recipe
    run_dir = runs_dir / f"{model_key(cfg_path)}-s{seed}"
    last = run_dir / "weights" / "last.pt"
    if last.is_file():
        done_epochs = int(load_checkpoint(last)["epoch"]) + 1
        if done_epochs >= r.epochs:
            return run_dir
        Trainer(TrainConfig(resume=str(last), device=r.device, workers=r.workers)).train()
        return run_dir
    tc = TrainConfig(cfg=cfg_path, data=r.data, hyp=r.hyp, weights=r.weights, teacher=r.teacher, distill=r.distill,
                     distill_loss=r.distill_loss, distill_gain=r.distill_gain, optimizer=r.optimizer,
                     freeze=r.freeze, epochs=r.epochs, batch=r.batch,
                     img=r.img, device=r.device, workers=r.workers, project=str(runs_dir), name=run_dir.name,
                     exist_ok=True, seed=seed,
                     val_period=r.val_period or r.epochs, patience=r.epochs + 1, plots=False,
                     max_batches=cfg.max_batches)
    Trainer(tc).train()
    return run_dir


def evaluate_run(weights: Path, recipe: Recipe, methods: list[str], out_dir: Path,
                 ious: list[float] | None = None) -> dict[str, dict]:
    """Evaluate one checkpoint on the val split with each NMS method (at each IoU threshold of ``ious``,
    else the default), all from one model pass: {eval_key: {metric: value}}; each evaluation's
    metrics.json in ``out_dir/<eval_key>/``."""
    from ..eval.val_job import ValConfig, evaluate, write_metrics

    keys = [(eval_key(m, t), m, t) for m in methods for t in (ious or [None])]
    variants = {k: {"nms": m, **({"iou_thres": float(t)} if t is not None else {})} for k, m, t in keys[1:]}
    k0, m0, t0 = keys[0]
    vc = ValConfig(weights=str(weights), data=recipe.data, img=recipe.img, batch=recipe.batch, device=recipe.device,
                   nms=m0, workers=recipe.workers, plots=False, variants=variants)
    if t0 is not None:
        vc.iou_thres = float(t0)
    res = evaluate(vc, out_dir / k0)
    out = {k0: {k: res.get(k) for k in EVAL_KEYS}}
    for k, vm in res.get("variants", {}).items():
        write_metrics(out_dir / k, vm)
        out[k] = {kk: vm.get(kk) for kk in EVAL_KEYS}
    return out


def rescore_row(row: dict, run_dir: Path, source: str, cfg: AblationConfig) -> dict:
    """Evaluate a finished run again, e.g. after a fix in the evaluator: ours from its final weights with
    every NMS method (the same :func:`evaluate_run` as after training), a peer from the predictions it
    saved (``predictions_ours.json``). Returns ``row`` with the new metrics."""
    from ..eval.val_job import ValConfig, evaluate
    row = dict(row)
    if source == "ours":
        weights = run_dir / "weights" / "last.pt"
        if not weights.is_file():
            raise ValueError(f"{weights}: missing, cannot evaluate this run again")
        metrics = evaluate_run(weights, cfg.recipe, cfg.nms, run_dir / "eval", cfg.nms_iou)
    else:
        files = {main_key(cfg): run_dir / "predictions_ours.json"}
        if cfg.nms_iou:  # a sweep: the predictions its val wrote at each threshold (greedy@t)
            files = {eval_key("greedy", t): run_dir / f"predictions_ours_iou{t:g}.json" for t in cfg.nms_iou}
        metrics = {}
        for key, pred in files.items():
            if not pred.is_file():
                raise ValueError(f"{pred}: no saved predictions to score again (rerun without --rescore)")
            res = evaluate(ValConfig(data=cfg.recipe.data, pred=str(pred), plots=False),
                           run_dir / (f"scored_{key}" if cfg.nms_iou else "scored"))
            metrics[key] = {k: res.get(k) for k in EVAL_KEYS}
    for m, vals in metrics.items():
        row.update({f"{m}:{k}": v for k, v in vals.items()})
    return row


def measure_costs(cfgs: list[str], nc: int, img: int, runs: int) -> dict[str, dict]:
    """Params and GFLOPs@640 (80 classes, as published for COCO models) and fused CPU latency
    (batch 1, ``img`` px, the task's class count), all cfgs timed interleaved."""
    import torch

    from ..models import build_model
    from ..models.summary import count_flops, count_params
    from ..utils.timing import median_ms, time_interleaved

    out, fns = {}, {}
    x = torch.rand(1, 3, img, img).contiguous(memory_format=torch.channels_last)
    for c in cfgs:
        m80 = build_model(c, nc=80)
        out[model_key(c)] = {"params_M": count_params(m80) / 1e6, "gflops640": count_flops(m80, 640)}
        m = build_model(c, nc=nc).eval().fuse().to(memory_format=torch.channels_last)

        def fn(m=m):
            with torch.inference_mode():
                m(x)
        fns[model_key(c)] = fn
    times = time_interleaved(fns, runs=runs, warmup=3)
    for k, ts in times.items():
        out[k]["latency_ms"] = median_ms(ts)
    return out


def _row(model: str, source: str, seed: int, recipe: Recipe, metrics: dict[str, dict], train_s: float | None) -> dict:
    row = {"model": model, "source": source, "seed": seed, "epochs": recipe.epochs, "img": recipe.img,
           "batch": recipe.batch, "train_s": train_s}
    for m, vals in metrics.items():
        for k, v in vals.items():
            row[f"{m}:{k}"] = v
    return row


def run_ablation(cfg: AblationConfig, log=print) -> dict:
    """Run (or resume) the whole ablation; returns {'rows': [...], 'costs': {...}, 'paths': {...}}."""
    from ..data import index_split, load_data_config
    from .peers import PeerRunner, find_yolo_cli
    from .report import write_reports

    _check_config(cfg)
    data_cfg = load_data_config(cfg.recipe.data)
    val_idx = index_split(data_cfg, "val")
    root = Path(cfg.project) / cfg.name
    root.mkdir(parents=True, exist_ok=True)
    _check_recipe(root, cfg)
    peer_runner = None
    if cfg.peers and not cfg.report_only:
        cli = find_yolo_cli(cfg.yolo)
        if cli is None:
            log("peers: no Ultralytics CLI found (give --yolo PATH or set DETECTOR_YOLO_CLI, e.g. "
                "/tmp/yardstick/bin/yolo): peer runs skipped, the rest runs")
        else:
            peer_runner = PeerRunner(cli, root / "peers", cfg.recipe, data_cfg, log, cfg.nms_iou)
    # seed-major order: an interrupted ablation leaves every model with the same seeds (paired comparisons)
    models = [("ours", c) for c in cfg.cfgs] + [("peer", p) for p in (cfg.peers if peer_runner or cfg.report_only
                                                                        else [])]
    plan = [(source, m, s) for s in cfg.seeds for source, m in models]
    rows, durations, t_all = [], [], time.time()
    for k, (source, model, seed) in enumerate(plan, 1):
        key = model_key(model) if source == "ours" else model
        done_file = _run_dir(root, source, model, seed) / "ablation_run.json"
        eta = ""
        if durations:
            left = sum(1 for s, m, sd in plan[k - 1:] if not (_run_dir(root, s, m, sd) / "ablation_run.json").is_file())
            eta = f", ETA {_hms(left * sum(durations) / len(durations))}"
        status = (("done, scored again" if cfg.rescore else "done, skipped") if done_file.is_file()
                  else ("not finished, left out" if cfg.report_only else "running"))
        log(f"[ablate {k}/{len(plan)}] {key} seed {seed} ({source}): {status} (elapsed {_hms(time.time() - t_all)}{eta})")
        if done_file.is_file():
            row = json.loads(done_file.read_text(encoding="utf-8"))
            if cfg.rescore:
                row = rescore_row(row, _run_dir(root, source, model, seed), source, cfg)
                write_json(done_file, row)
            rows.append(row)
            continue
        if cfg.report_only:
            continue
        t0 = time.time()
        row = _one_run(cfg, source, model, key, seed, root, peer_runner, val_idx, log)
        if row is None:
            continue
        write_json(done_file, row)
        rows.append(row)
        durations.append(time.time() - t0)
    costs = _costs(cfg, root, len(val_idx.names), log)
    paths = write_reports(root, rows, costs, cfg, [model_key(c) for c in cfg.cfgs] + list(cfg.peers))
    log(f"[ablate] {len(rows)}/{len(plan)} runs in the tables; {paths['md']}")
    return {"rows": rows, "costs": costs, "paths": paths}


def _check_config(cfg: AblationConfig) -> None:
    if not cfg.cfgs:
        raise ValueError("give at least one --cfgs model YAML")
    if not cfg.seeds:
        raise ValueError("give at least one --seeds value")
    for c in cfg.cfgs:
        if not Path(c).is_file():
            raise ValueError(f"{c}: model YAML not found")
    if len({model_key(c) for c in cfg.cfgs}) != len(cfg.cfgs):
        raise ValueError(f"--cfgs names repeat: {[model_key(c) for c in cfg.cfgs]}")


def _one_run(cfg: AblationConfig, source: str, model: str, key: str, seed: int, root: Path, peer_runner, val_idx,
             log) -> dict | None:
    """Train and evaluate one (model, seed): its row, or None when it failed (said in the log)."""
    t0 = time.time()
    try:
        if source == "ours":
            run_dir = train_run(model, seed, cfg, root / "runs")
            t_train = time.time() - t0
            metrics = evaluate_run(run_dir / "weights" / "last.pt", cfg.recipe, cfg.nms, run_dir / "eval",
                                   cfg.nms_iou)
            return _row(key, "ours", seed, cfg.recipe, metrics, t_train)
        metrics, t_train = peer_runner.run(model, seed, val_idx)
        if cfg.nms_iou:  # their own (greedy) NMS at each threshold: compared as greedy@t
            metrics = {eval_key("greedy", t): m for t, m in metrics.items()}
        else:
            metrics = {main_key(cfg): metrics}
        return _row(key, "ultralytics", seed, cfg.recipe, metrics, t_train)
    except (RuntimeError, ValueError, FloatingPointError, OSError) as e:
        log(f"[ablate] {key} seed {seed} failed: {e} (left out of the tables; rerun to retry)")
        return None


def _costs(cfg: AblationConfig, root: Path, nc: int, log) -> dict:
    """Params, GFLOPs and latency of every cfg (measured once, kept in costs.json) and of every peer."""
    from .peers import peer_costs

    costs_file = root / "costs.json"
    costs = json.loads(costs_file.read_text(encoding="utf-8")) if costs_file.is_file() else {}
    missing = [c for c in cfg.cfgs if model_key(c) not in costs]
    if missing and not cfg.report_only:
        log(f"[ablate] measuring params, GFLOPs and CPU latency of {len(cfg.cfgs)} cfgs (interleaved)")
        costs = measure_costs(cfg.cfgs, nc, cfg.recipe.img, cfg.latency_runs)
        write_json(costs_file, costs)
    if cfg.report_only:
        costs = {k: v for k, v in costs.items() if k in {model_key(c) for c in cfg.cfgs}}
    for p in cfg.peers:
        costs.setdefault(p, peer_costs(root / "peers", p))
    return costs


def _run_dir(root: Path, source: str, model: str, seed: int) -> Path:
    from .peers import peer_run_dir

    return root / "runs" / f"{model_key(model)}-s{seed}" if source == "ours" else peer_run_dir(root / "peers", model, seed)


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
