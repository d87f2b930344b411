"""The training loop: warmup, accumulation to a nominal batch, AMP, EMA, DDP, validation,
checkpoints and resume. ``tools/train.py`` only parses flags into a :class:`TrainConfig`."""
from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..data import DetectionDataset, build_dataloader, index_split, load_data_config
from ..data.categories import category_mismatch
from ..data.report import label_warnings, summarize, write_report
from ..loss import DetectionLoss
from ..metrics.coco_eval import COCOEvaluator
from ..models import build_model
from ..utils.io import increment_path, write_json
from ..utils.plots import batch_mosaic
from .checkpoint import CheckpointError, build_model_of, load_checkpoint, load_weights, save_checkpoint
from .dist import barrier, cleanup, init_distributed, select_device
from .ema import ModelEMA, unwrap
from .hyp import load_hyp
from .logger import RunLogger
from .optim import build_optimizer, lr_lambda
from .transfer import transfer_weights
from .validate import run_validation


@dataclass
class TrainConfig:
    cfg: str = "cfg/yolo_ca_bifpn.yaml"
    data: str = "cfg/data/synthetic.yaml"
    hyp: str | None = None
    scale: str | None = None
    epochs: int = 100
    batch: int = 16
    img: int = 640
    device: str = ""
    workers: int = 2
    weights: str | None = None
    resume: str | None = None
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False
    seed: int = 0
    deterministic: bool = False
    patience: int = 50
    save_period: int = -1
    cache: str = "auto"  # 'auto': decoded images in RAM when small (CACHE_AUTO), 'ram': always (guarded), 'none'
    optimizer: str = "SGD"
    cos_lr: bool = False
    close_mosaic: int | None = None
    sync_bn: bool = False
    amp: bool = True
    channels_last: bool = True  # NHWC tensors: ~1.2x faster convolutions on CPU (oneDNN) and CUDA tensor cores
    val_period: int = 1
    nms: str | None = None
    plots: bool = True
    max_batches: int | None = None  # stop each epoch after this many batches (tests, smoke runs)
    strict_labels: bool = False  # refuse to train when any label is rejected


CACHE_MODES = ("auto", "ram", "none")
CACHE_AUTO = dict(max_bytes=2 * 2**30, max_fraction=0.1)  # 'auto' caches up to 2 GiB and 10 % of free RAM
CACHE_RAM = dict(max_fraction=0.5)


def cache_mode(value) -> str:
    """--cache value -> 'auto' | 'ram' | 'none' (older checkpoints stored a boolean)."""
    if isinstance(value, bool) or value is None:
        return "ram" if value else "none"
    if value not in CACHE_MODES:
        raise ValueError(f"--cache must be one of {CACHE_MODES}, got {value!r}")
    return value


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def find_last_checkpoint(project: str = "runs/train") -> Path:
    cands = sorted(Path(project).glob("*/weights/last.pt"), key=lambda p: p.stat().st_mtime)
    if not cands:
        raise CheckpointError(f"--resume: no {project}/*/weights/last.pt to resume from")
    return cands[-1]


class LabelError(ValueError):
    """Training refused because of label errors (--strict-labels); the run folder keeps its report."""


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.resume_ckpt = None
        if cfg.resume:
            path = find_last_checkpoint(cfg.project) if cfg.resume == "last" else Path(cfg.resume)
            self.resume_ckpt = load_checkpoint(path)
            saved = self.resume_ckpt.get("train_cfg") or {}
            keep = {f.name: getattr(cfg, f.name) for f in fields(TrainConfig) if f.name in ("device", "workers")}
            cfg = TrainConfig(**{**{k: v for k, v in saved.items() if k in {f.name for f in fields(TrainConfig)}}, **keep,
                                 "resume": str(path), "exist_ok": True})
            self.save_dir = path.parent.parent
        cfg.cache = cache_mode(cfg.cache)
        self.cfg = cfg
        self.device = select_device(cfg.device)
        self.rank, self.world = init_distributed(self.device)
        self.main = self.rank == 0
        seed_everything(cfg.seed + self.rank, cfg.deterministic)
        if not self.resume_ckpt:
            self.save_dir = increment_path(Path(cfg.project) / cfg.name, cfg.exist_ok) if self.main else None
        self.hyp = load_hyp(cfg.hyp)
        if cfg.close_mosaic is not None:
            self.hyp["close_mosaic"] = cfg.close_mosaic

    # ------------------------------------------------------------------ setup
    def log(self, msg: str) -> None:
        if self.main:
            print(msg, flush=True)

    def setup(self) -> None:
        cfg, hyp = self.cfg, self.hyp
        if self.main:
            (self.save_dir / "weights").mkdir(parents=True, exist_ok=True)
        self.data_cfg = load_data_config(cfg.data)
        self.train_idx = index_split(self.data_cfg, "train")
        self.val_idx = index_split(self.data_cfg, "val") if "val" in self.data_cfg.splits else None
        issues = {"train": self.train_idx.issues, **({"val": self.val_idx.issues} if self.val_idx else {})}
        counts = {s.split: dict(images=len(s.records), boxes=sum(len(r.boxes) for r in s.records),
                                crowd=sum(len(r.crowd) for r in s.records),
                                background=sum(len(r.boxes) == 0 for r in s.records))
                  for s in (self.train_idx, self.val_idx) if s is not None}
        loud = label_warnings(issues, counts)
        if self.main:
            write_report(self.save_dir / "labels_report.json", issues, counts, loud)
            self.log(summarize(issues, counts))
            for w in loud:
                self.log(f"WARNING: {w}: check {self.save_dir / 'labels_report.json'} (--strict-labels refuses to train)")
        n_rejected = sum(i.severity == "rejected" for v in issues.values() for i in v)
        if cfg.strict_labels and n_rejected:
            raise LabelError(f"{cfg.data}: --strict-labels: {n_rejected} label error(s), listed in "
                             f"{self.save_dir / 'labels_report.json'}" if self.main else "label errors")
        if not self.train_idx.records:
            raise ValueError(f"{cfg.data}: the train split has no usable images")
        if self.val_idx is not None:
            problem = category_mismatch(f"{cfg.data} train split", self.train_idx.names, self.train_idx.cat_ids,
                                        "its val split", self.val_idx.names, self.val_idx.cat_ids)
            if problem:
                raise ValueError(problem)
        self.names = self.train_idx.names
        nc = len(self.names)

        if self.resume_ckpt:
            model = build_model_of(self.resume_ckpt, cfg.resume)
        else:
            model = build_model(cfg.cfg, scale=cfg.scale, nc=nc)
        model.names = dict(enumerate(self.names))
        if cfg.weights and not self.resume_ckpt:
            ck = load_checkpoint(cfg.weights)
            rep = transfer_weights(model, ck.get("ema") or ck["model"], ck.get("model_cfg"), cfg.weights)
            self.log(rep.summary(cfg.weights))
        self.model = model.to(self.device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.nms = cfg.nms or model.cfg.nms
        if self.world > 1 and cfg.sync_bn:
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.ema = ModelEMA(self.model, hyp["ema_decay"], hyp["ema_tau"]) if self.main else None

        self.accumulate = max(round(hyp["nbs"] / (cfg.batch * self.world)), 1)
        wd = hyp["weight_decay"] * cfg.batch * self.world * self.accumulate / hyp["nbs"]
        self.optimizer = build_optimizer(unwrap(self.model), cfg.optimizer, hyp["lr0"], hyp["momentum"], wd)
        self.lf = lr_lambda(cfg.epochs, hyp["lrf"], cfg.cos_lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lf)
        self.amp_dtype = None
        if cfg.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.criterion = DetectionLoss(unwrap(self.model).stride.to(self.device), nc, unwrap(self.model).head.reg_max,
                                       gains={k: hyp[k] for k in ("box", "cls", "dfl", "density")},
                                       topk=int(hyp["tal_topk"]), alpha=hyp["tal_alpha"], beta=hyp["tal_beta"],
                                       density_per_class=bool(hyp["density_per_class"]),
                                       density_bce=bool(hyp["density_bce"]), ciou_assign=bool(hyp["tal_ciou"]))
        self.start_epoch, self.best_fitness = 0, -1.0
        if self.resume_ckpt:
            self._restore(self.resume_ckpt)
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

        close_epoch = max(cfg.epochs - int(hyp["close_mosaic"]), 0) if hyp["close_mosaic"] else None
        self.train_ds = DetectionDataset(self.train_idx.records, cfg.img, augment=True, hyp=hyp, seed=cfg.seed,
                                         close_mosaic_epoch=close_epoch)
        self._cache(self.train_ds, "train")
        per_rank = max(cfg.batch // self.world, 1) if self.world > 1 else cfg.batch
        self.train_loader, self.sampler = build_dataloader(self.train_ds, per_rank, cfg.workers, True, cfg.seed,
                                                           self.rank, self.world)
        if self.main and self.val_idx is not None:
            self.val_ds = DetectionDataset(self.val_idx.records, cfg.img, augment=False, rect=True,
                                           batch_size=cfg.batch * 2)
            self._cache(self.val_ds, "val")
            self.val_loader, _ = build_dataloader(self.val_ds, cfg.batch * 2, cfg.workers, False, cfg.seed)
            self.evaluator = COCOEvaluator.from_split(self.val_idx)
        self.logger = RunLogger(self.save_dir) if self.main else None
        if self.main and self.resume_ckpt:
            self.logger.load_existing()
        if self.main:
            write_json(self.save_dir / "args.json", {"train": asdict(cfg), "hyp": hyp, "model": unwrap(self.model).yaml,
                                                     "data": self.data_cfg.raw, "names": self.names})

    def _cache(self, ds: DetectionDataset, split: str) -> None:
        """Fill the RAM cache here, before the DataLoader workers fork, so that they share one copy."""
        mode = self.cfg.cache  # normalised by cache_mode() in __init__
        if mode == "none":
            return
        limits = CACHE_AUTO if mode == "auto" else CACHE_RAM
        copies = self.world if split == "train" else 1
        if ds.fill_cache(threads=os.cpu_count() or 1, progress=self.main, copies=copies, quiet=mode == "auto", **limits):
            self.log(f"{split}: {len(ds)} decoded images cached in RAM (~{ds.cache_bytes() / 2**20:.0f} MiB"
                     f"{' per process' if copies > 1 else ''}; --cache {mode}" + (", --cache none to turn off)"
                                                                                  if mode == "auto" else ")"))
        elif mode == "auto":
            self.log(f"{split}: images read from disk each epoch (~{ds.cache_bytes() / 2**30:.1f} GiB decoded is "
                     "above the --cache auto limit; --cache ram to force)")

    def _restore(self, ck: dict) -> None:
        missing = [k for k in ("optimizer", "scheduler", "epoch") if k not in ck]
        if missing:
            raise CheckpointError(f"{self.cfg.resume}: cannot resume from it (no {', '.join(missing)} state); "
                                  "use --weights to start a new run from its weights")
        load_weights(self.model, ck["model"], self.cfg.resume)
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        if ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        if self.ema is not None and ck.get("ema"):
            self.ema.ema.load_state_dict(ck["ema"])
            self.ema.updates = int(ck.get("ema_updates", 0))
        self.start_epoch = int(ck["epoch"]) + 1
        self.best_fitness = float(ck.get("best_fitness", -1.0))
        rng = ck.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if self.start_epoch >= self.cfg.epochs:
            raise CheckpointError(f"{self.cfg.resume}: the run already finished all {self.cfg.epochs} epochs")
        self.log(f"resuming from {self.cfg.resume} at epoch {self.start_epoch + 1}/{self.cfg.epochs}")

    # ------------------------------------------------------------------ loop
    def train(self) -> dict:
        existed = self.save_dir is not None and self.save_dir.exists()
        if self.main:
            for tmp in self.save_dir.glob("weights/.*.tmp"):  # left by a write that was killed
                tmp.unlink(missing_ok=True)
        try:
            self.setup()
        except BaseException as e:
            keep = isinstance(e, LabelError) or any(self.save_dir.glob("weights/*.pt")) if self.main else True
            if self.main and not existed and not keep:
                shutil.rmtree(self.save_dir, ignore_errors=True)  # no empty run folder after a failed start
            raise
        cfg, hyp = self.cfg, self.hyp
        nb = len(self.train_loader) if cfg.max_batches is None else min(cfg.max_batches, len(self.train_loader))
        nw = max(round(hyp["warmup_epochs"] * nb), 100) if hyp["warmup_epochs"] > 0 else -1
        last_metrics, patience_left = {}, cfg.patience
        self.log(f"training {cfg.cfg} on {cfg.data}: {len(self.train_ds)} images, {cfg.epochs} epochs, batch {cfg.batch} "
                 f"(x{self.accumulate} accumulation), img {cfg.img}, device {self.device}, results in {self.save_dir}")
        t_start = time.time()
        for epoch in range(self.start_epoch, cfg.epochs):
            self.sampler.set_epoch(epoch)
            self.model.train()
            mloss = torch.zeros(4, device=self.device)
            pbar = tqdm(enumerate(self.train_loader), total=nb, disable=not self.main, ncols=120,
                        desc=f"{epoch + 1}/{cfg.epochs}")
            t0, n_seen, skipped = time.time(), 0, []
            self.optimizer.zero_grad(set_to_none=True)
            for i, batch in pbar:
                if i >= nb:
                    break
                ni = i + nb * epoch
                if ni <= nw:
                    self._warmup(ni, nw, epoch)
                imgs = batch["images"].to(self.device, non_blocking=True).float().div_(255.0)
                imgs = imgs.contiguous(memory_format=self.memory_format)
                with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    preds = self.model(imgs)
                loss, items = self.criterion([p.float() for p in preds], batch["targets"].to(self.device),
                                             batch["crowd"].to(self.device))
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}, batch {i}: "
                                             "lower lr0 or check the labels report")
                self.scaler.scale(loss * self.world).backward()
                if (i + 1) % self.accumulate == 0 or i + 1 == nb:
                    self._step()
                mloss = (mloss * i + items) / (i + 1)
                n_seen += len(imgs)
                for m in batch["meta"]:
                    skipped += m.get("skipped", [])
                if self.main:
                    if epoch == self.start_epoch and i == 0 and cfg.plots:
                        self._plot_batch(batch)
                    mem = f"{torch.cuda.max_memory_reserved(self.device) / 2**30:.1f}G" if self.device.type == "cuda" else "cpu"
                    pbar.set_postfix_str(f"box {mloss[0]:.3f} cls {mloss[1]:.3f} dfl {mloss[2]:.3f} dens {mloss[3]:.3f} "
                                         f"lr {self.optimizer.param_groups[0]['lr']:.2e} "
                                         f"{n_seen * self.world / (time.time() - t0):.1f} img/s {mem}")
            lrs = [g["lr"] for g in self.optimizer.param_groups]
            self.scheduler.step()
            train_s = time.time() - t0
            if skipped:
                self.log(f"epoch {epoch + 1}: {len(skipped)} unreadable image(s) skipped: "
                         + "; ".join(f"{p}: {r}" for p, r in skipped[:5]))
            if self.main:
                final = epoch + 1 == cfg.epochs
                t_val = time.time()
                if self.val_idx is not None and ((epoch + 1) % cfg.val_period == 0 or final):
                    last_metrics = run_validation(self.ema.ema, self.val_loader, self.evaluator, self.device,
                                                  nms=self.nms, progress=True)
                val_s = time.time() - t_val
                fitness = last_metrics.get("mAP50-95", 0.0)
                improved = fitness > self.best_fitness
                if improved:
                    self.best_fitness, patience_left = fitness, cfg.patience
                else:
                    patience_left -= 1
                self._log_epoch(epoch, mloss, lrs, last_metrics, train_s, val_s, n_seen)
                self._save(epoch, improved, last_metrics)
                stop = patience_left <= 0 and not final
                if stop:
                    self.log(f"early stop: no mAP50-95 improvement for {cfg.patience} epochs")
            else:
                stop = False
            if self.world > 1:
                flag = torch.tensor([float(stop)], device=self.device)
                torch.distributed.broadcast(flag, 0)
                stop = bool(flag.item())
            if stop:
                break
        if self.main:
            self.logger.plot()
            self.logger.close()
            self.log(f"done in {(time.time() - t_start) / 60:.1f} min; best mAP50-95 {max(self.best_fitness, 0):.4f}; "
                     f"weights in {self.save_dir / 'weights'}")
        barrier()
        cleanup()
        return last_metrics

    def _warmup(self, ni: int, nw: int, epoch: int) -> None:
        hyp = self.hyp
        xi = [0, nw]
        for j, g in enumerate(self.optimizer.param_groups):
            start = hyp["warmup_bias_lr"] if j == 2 else 0.0
            g["lr"] = float(np.interp(ni, xi, [start, g["initial_lr"] * self.lf(epoch)]))
            if "momentum" in g:
                g["momentum"] = float(np.interp(ni, xi, [hyp["warmup_momentum"], hyp["momentum"]]))
            elif "betas" in g:
                g["betas"] = (float(np.interp(ni, xi, [hyp["warmup_momentum"], hyp["momentum"]])), g["betas"][1])

    def _step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=self.hyp["grad_clip"])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)

    def _plot_batch(self, batch: dict) -> None:
        pic = batch_mosaic(batch["images"].numpy(), batch["targets"].numpy(), self.names)
        cv2.imwrite(str(self.save_dir / "train_batch0.jpg"), pic)

    def _log_epoch(self, epoch, mloss, lrs, m, train_s, val_s, n_seen) -> None:
        fw = unwrap(self.model).fusion_weights()
        row = {"epoch": epoch + 1, "train/box_loss": float(mloss[0]), "train/cls_loss": float(mloss[1]),
               "train/dfl_loss": float(mloss[2]), "train/density_loss": float(mloss[3]),
               "metrics/precision": float(m.get("precision", 0.0)), "metrics/recall": float(m.get("recall", 0.0)),
               "metrics/mAP50": float(m.get("mAP50", 0.0)), "metrics/mAP50-95": float(m.get("mAP50-95", 0.0)),
               "lr/pg0": lrs[0], "lr/pg1": lrs[1], "lr/pg2": lrs[2],
               "fusion/max_weight_mean": float(np.mean([w.max().item() for w in fw.values()])) if fw else 0.0,
               "train/img_per_s": n_seen * self.world / max(train_s, 1e-9), "time": train_s, "val_time": val_s}
        extra = {f"fusion/{k}/{j}": float(v) for k, w in fw.items() for j, v in enumerate(w.tolist())}
        self.logger.log(row, extra)
        self.log(f"epoch {epoch + 1}: mAP50 {row['metrics/mAP50']:.4f} mAP50-95 {row['metrics/mAP50-95']:.4f} "
                 f"P {row['metrics/precision']:.3f} R {row['metrics/recall']:.3f} (train {train_s:.1f}s, "
                 f"{row['train/img_per_s']:.1f} img/s; val {val_s:.1f}s)")

    def _save(self, epoch: int, best: bool, metrics: dict) -> None:
        model = unwrap(self.model)
        ck = {"epoch": epoch, "best_fitness": self.best_fitness, "model": model.state_dict(),
              "ema": self.ema.ema.state_dict(), "ema_updates": self.ema.updates,
              "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
              "scaler": self.scaler.state_dict(), "model_cfg": model.yaml, "train_cfg": asdict(self.cfg),
              "data_cfg": self.data_cfg.raw, "hyp": self.hyp, "names": self.names,
              "cat_ids": self.train_idx.cat_ids, "nms": self.nms,
              "metrics": {k: float(v) for k, v in metrics.items() if isinstance(v, float)},  # plain floats
              "rng": {"torch": torch.get_rng_state()}}
        w = self.save_dir / "weights"
        save_checkpoint(w / "last.pt", ck)
        if best:
            save_checkpoint(w / "best.pt", ck)
        if self.cfg.save_period > 0 and (epoch + 1) % self.cfg.save_period == 0:
            save_checkpoint(w / f"epoch{epoch + 1}.pt", ck)
