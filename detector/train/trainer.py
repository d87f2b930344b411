"""The training loop: forward, loss, backward, optimizer step (AMP, accumulation to a nominal batch,
DDP). Everything else a run does — LR warmup and schedule, EMA, validation, best/early stop,
checkpoints, progress bar, results.csv / TensorBoard / plots — is a callback
(:mod:`detector.train.callbacks`); ``tools/train.py`` only parses flags into a :class:`TrainConfig`."""
from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import DetectionDataset, build_dataloader
from ..data.splits import LabelError, prepare_splits
from ..data.transforms import normalize_images
from ..loss.detection_loss import weighted_total
from ..metrics.coco_eval import COCOEvaluator
from ..models import build_model
from ..nn.attention import arm_identity_gates
from ..ops.nms import resolve_nms
from ..utils import stop
from ..utils.cli import round_img
from ..utils.io import increment_path, write_json
from .callbacks import Callback, CallbackList, default_callbacks, load_callback
from ..checkpoint.file import CheckpointError, build_model_of, load_checkpoint, load_weights
from ..utils.dist import barrier, cleanup, init_distributed, select_device
from .distill import Distillation
from .ema import ModelEMA, unwrap
from .hyp import load_hyp
from .nonfinite import NonFiniteGuard
from .optim import batch_plan, build_optimizer, lr_lambda
from .transfer import build_from_weights, freeze_layers

__all__ = ["LabelError", "TrainConfig", "Trainer", "cache_mode", "find_last_checkpoint", "seed_everything"]


@dataclass
class TrainConfig:
    cfg: str = "cfg/yolo_ca_bifpn.yaml"
    data: str = "cfg/data/synthetic.yaml"
    hyp: str | None = None
    scale: str | None = None
    epochs: int | None = None  # None: the data YAML's defaults: (e.g. synthetic.yaml: 30), else BUILT_IN_DEFAULTS
    batch: int | None = None  # the total over all processes
    img: int | None = None  # rounded up to the model's largest stride
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
    freeze: int = 0  # freeze the first N layers (Ultralytics' freeze): no gradients, no optimizer updates
    fraction: float = 1.0  # train on this share of the train split (its first images), as Ultralytics' fraction
    cache: str = "auto"  # 'auto': decoded images in RAM when small (CACHE_AUTO), 'ram': always (guarded), 'none'
    optimizer: str = "SGD"
    cos_lr: bool = False
    close_mosaic: int | None = None
    sync_bn: bool = False
    amp: bool = True
    channels_last: bool = True  # NHWC tensors: ~1.2x faster convolutions on CPU (oneDNN) and CUDA tensor cores
    val_period: int = 1
    val_slice: int | None = None  # validate with sliced inference in tiles of this many px (small objects)
    val_slice_img: int | None = None  # with val_slice: network input of a tile (None: the tile's own size)
    nms: str | None = None
    plots: bool = True
    max_batches: int | None = None  # stop each epoch after this many batches (tests, smoke runs)
    strict_labels: bool = False  # refuse to train when any label is rejected
    callbacks: list[str] = field(default_factory=list)  # extra callbacks, 'module:Class' (after the defaults)
    teacher: str | None = None  # knowledge distillation from this checkpoint (ours or a YOLOv8 .pt; train/distill.py)
    distill: str = "auto"  # auto (logit when the heads match, else feature) | feature | logit | both
    distill_loss: str = "pkd"  # neck-feature term: pkd | cwd
    distill_gain: float = 1.0  # multiplies every distillation gain (hyp distill_*)


#: epochs / img / batch when neither the caller nor the data YAML's ``defaults:`` give them
BUILT_IN_DEFAULTS = {"epochs": 100, "img": 640, "batch": 16}


def with_defaults(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with its unset epochs / img / batch taken from the data YAML's ``defaults:``, then from
    :data:`BUILT_IN_DEFAULTS`: the same rule for ``tools/train.py`` and ``Trainer(TrainConfig(...))``."""
    unset = [k for k in BUILT_IN_DEFAULTS if getattr(cfg, k) is None]
    if not unset:
        return cfg
    from ..data import load_data_config

    data_defaults = load_data_config(cfg.data).defaults
    return replace(cfg, **{k: data_defaults.get(k, BUILT_IN_DEFAULTS[k]) for k in unset})


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


class Trainer:
    """``Trainer(cfg, callbacks=[...]).train()``: extra callbacks run after the defaults (and after
    those named in ``cfg.callbacks``).

    Contents: ``__init__`` (the config, resume, device, seeds, hyperparameters, loop state); ``setup``, the
    ``build_*`` steps in their order (data, model, distiller, EMA, optimizer, AMP, loss, DDP, loaders; a
    subclass replaces one); ``train`` (epochs, with the callbacks' hooks around each), ``train_one_epoch``
    (forward, loss terms, backward) and ``optimizer_step`` (unscale, clip, step, EMA); ``_restore`` (a
    resumed run's state) and ``where_stopped`` (what an interrupted run says)."""

    def __init__(self, cfg: TrainConfig, callbacks: list[Callback] | None = None):
        self.resume_ckpt = None
        if cfg.resume:
            path = find_last_checkpoint(cfg.project) if cfg.resume == "last" else Path(cfg.resume)
            self.resume_ckpt = load_checkpoint(path)
            saved = self.resume_ckpt.get("train_cfg") or {}
            keep = {k: getattr(cfg, k) for k in ("device", "workers", "callbacks") if k != "callbacks" or cfg.callbacks}
            cfg = TrainConfig(**{**{k: v for k, v in saved.items() if k in {f.name for f in fields(TrainConfig)}}, **keep,
                                 "resume": str(path), "exist_ok": True})
            self.save_dir = path.parent.parent
        cfg = with_defaults(cfg)
        cfg.cache = cache_mode(cfg.cache)
        self.cfg = cfg
        self.callbacks = CallbackList(default_callbacks() + [load_callback(s) for s in cfg.callbacks]
                                      + list(callbacks or []))
        self.device = select_device(cfg.device)
        self.rank, self.world = init_distributed(self.device)
        self.main = self.rank == 0
        seed_everything(cfg.seed + self.rank, cfg.deterministic)
        if not self.resume_ckpt:
            self.save_dir = increment_path(Path(cfg.project) / cfg.name, cfg.exist_ok) if self.main else None
        self.hyp = load_hyp(cfg.hyp)
        if cfg.close_mosaic is not None:
            self.hyp["close_mosaic"] = cfg.close_mosaic
        # loop state read by callbacks (see callbacks/base.py)
        self.epoch = self.batch_i = self.global_i = self.n_seen = 0
        self.batch, self.loss_terms, self.loss_items, self.mean_loss, self.metrics, self.epoch_lrs = None, {}, {}, {}, {}, []
        self.fitness, self.improved, self.stop = 0.0, False, False
        self.train_s = self.val_s = 0.0
        self.val_loader = self.evaluator = self.distill = None

    def log(self, msg: str) -> None:
        if self.main:
            print(msg, flush=True)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Build everything a run needs, one overridable step each (as detectron2's ``DefaultTrainer``): a
        subclass replaces one ``build_*`` step and keeps the rest. The order is part of the contract (the
        random state each step sees makes runs reproducible): data, model, distiller, EMA, optimizer, AMP,
        loss, resume, DDP, loaders, then ``args.json``."""
        if self.main:
            (self.save_dir / "weights").mkdir(parents=True, exist_ok=True)
        self.build_data()
        self.model = self.build_model()
        self.distill = self.build_distiller()
        self.ema = self.build_ema()
        self.optimizer, self.scheduler = self.build_optimizer()
        self.build_amp()
        self.criterion = self.build_loss()
        self.loss_gains = dict(self.criterion.gains)  # callbacks adding a term (on_loss) may add its gain here
        self.start_epoch, self.best_fitness = 0, -1.0
        if self.resume_ckpt:
            self._restore(self.resume_ckpt)
        self.model = self.build_ddp(self.model)
        extra = self.distill.trainable_params if self.distill is not None else []
        if extra and self.world > 1:
            self.distill.module = self.build_ddp(self.distill.distiller)
        self.clip_params = list(unwrap(self.model).parameters()) + extra  # what optimizer_step clips
        self.build_loaders()
        if self.main:
            write_json(self.save_dir / "args.json", {"train": asdict(self.cfg), "hyp": self.hyp,
                                                     "model": unwrap(self.model).yaml, "data": self.data_cfg.raw,
                                                     "names": self.names})

    def build_data(self) -> None:
        """Index and check the splits: ``data_cfg``, ``train_idx``, ``val_idx``, ``names``; on resume the
        classes must be the checkpoint's."""
        cfg = self.cfg
        splits = prepare_splits(cfg.data, (self.save_dir / "labels_report.json") if self.main else None,
                                cfg.strict_labels, self.log)
        self.data_cfg, self.train_idx, self.val_idx = splits.data_cfg, splits.train, splits.val
        self.names = splits.names
        nc = len(self.names)
        if self.resume_ckpt and self.resume_ckpt.get("names") is not None:
            saved = [str(n) for n in self.resume_ckpt["names"]]
            if saved != list(self.names):
                diff = next((i for i, (a, b) in enumerate(zip(saved, self.names)) if a != b), min(len(saved), nc))
                raise CheckpointError(
                    f"{cfg.resume}: the run was trained on {len(saved)} classes but {cfg.data} now has {nc} "
                    f"(first difference at class {diff}: {saved[diff] if diff < len(saved) else '-'!r} vs "
                    f"{self.names[diff] if diff < nc else '-'!r}); --resume continues the same task only. To train "
                    f"on the new classes, start a new run with --weights {cfg.resume}")

    def build_model(self) -> nn.Module:
        """The model on its device and memory format (from the checkpoint on resume; ``--weights``
        transferred); sets ``nms`` and ``memory_format``, and rounds ``cfg.img`` up to the model's stride."""
        cfg = self.cfg
        if self.resume_ckpt:
            model = build_model_of(self.resume_ckpt, cfg.resume)
            model.names = dict(enumerate(self.names))
            arm_identity_gates(model, self.resume_ckpt["model"])  # gated attention blocks (a fine-tuning run)
        elif cfg.weights:
            model, lines = build_from_weights(cfg.cfg, cfg.scale, self.names, load_checkpoint(cfg.weights), cfg.weights)
            for line in lines:
                self.log(line)
        else:
            model = build_model(cfg.cfg, scale=cfg.scale, nc=len(self.names))
            model.names = dict(enumerate(self.names))
        if cfg.freeze:
            self.log(freeze_layers(model, cfg.freeze))
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        model = model.to(self.device).to(memory_format=self.memory_format)
        self.nms = resolve_nms(cfg.nms, model.cfg.nms)
        if self.main or cfg.img % model.max_stride == 0:
            cfg.img = round_img(cfg.img, model.max_stride)  # says so once (rank 0)
        else:
            cfg.img = (cfg.img + model.max_stride - 1) // model.max_stride * model.max_stride
        if self.world > 1 and cfg.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def build_distiller(self) -> Distillation | None:
        """With ``--teacher``: the frozen teacher and the trainable projectors, as a callback that adds the
        distillation terms (``on_loss``). Built under a forked random state, so the student's run (its
        initial weights, data order, augmentation) is the same with and without a teacher."""
        cfg = self.cfg
        if not cfg.teacher:
            return None
        with torch.random.fork_rng(devices=[]):
            d = Distillation(self, cfg.teacher, cfg.distill, cfg.distill_loss, cfg.distill_gain)
        self.callbacks.callbacks.append(d)
        return d

    def build_ema(self) -> ModelEMA | None:
        return ModelEMA(self.model, self.hyp["ema_decay"], self.hyp["ema_tau"]) if self.main else None

    def build_optimizer(self) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """(optimizer, LR scheduler); sets ``per_rank`` batch and ``accumulate`` (to the nominal batch)."""
        cfg, hyp = self.cfg, self.hyp
        self.per_rank, self.accumulate, wd = batch_plan(cfg.batch, self.world, hyp["nbs"], hyp["weight_decay"])
        self.nominal_accumulate = self.accumulate  # LRSchedule may lower self.accumulate during warmup
        optimizer = build_optimizer(unwrap(self.model), cfg.optimizer, hyp["lr0"], hyp["momentum"], wd)
        if self.distill is not None and self.distill.trainable_params:
            optimizer.add_param_group({"params": self.distill.trainable_params, "weight_decay": wd})
        self.lr_factor = lr_lambda(cfg.epochs, hyp["lrf"], cfg.cos_lr)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)

    def build_amp(self) -> None:
        """``amp_dtype`` (bf16 where supported, else fp16 on CUDA; none on CPU), the GradScaler and the
        non-finite loss guard."""
        self.amp_dtype = None
        if self.cfg.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.guard = NonFiniteGuard(self.device, scaler_skips=self.scaler.is_enabled())

    def build_loss(self):
        """The head's loss (``head.build_loss``): called as ``criterion.terms(raw, targets, crowd)`` -> named terms."""
        return unwrap(self.model).head.build_loss(self.hyp)

    def build_ddp(self, model: nn.Module) -> nn.Module:
        if self.world > 1:
            return nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        return model

    def build_loaders(self) -> None:
        """Training dataset and loader (``train_ds``, ``train_loader``, ``sampler``); on rank 0 the validation
        dataset, loader and evaluator."""
        cfg, hyp = self.cfg, self.hyp
        close_epoch = max(cfg.epochs - int(hyp["close_mosaic"]), 0) if hyp["close_mosaic"] else None
        records = self.train_idx.records
        if cfg.fraction < 1:
            records = records[:max(1, round(len(records) * cfg.fraction))]
            self.log(f"--fraction {cfg.fraction:g}: training on the first {len(records)} of the {len(self.train_idx.records)} "
                     "train images")
        stride = unwrap(self.model).max_stride
        self.train_ds = DetectionDataset(records, cfg.img, augment=True, hyp=hyp, seed=cfg.seed,
                                         close_mosaic_epoch=close_epoch, stride=stride)
        self._cache(self.train_ds, "train")
        self.train_loader, self.sampler = build_dataloader(self.train_ds, self.per_rank, cfg.workers, True, cfg.seed,
                                                           self.rank, self.world)
        if self.main and self.val_idx is not None:
            self.val_ds = DetectionDataset(self.val_idx.records, cfg.img, augment=False, rect=True,
                                           batch_size=cfg.batch * 2, stride=stride)
            self._cache(self.val_ds, "val")
            self.val_loader, _ = build_dataloader(self.val_ds, cfg.batch * 2, cfg.workers, False, cfg.seed)
            self.evaluator = COCOEvaluator.from_split(self.val_idx)

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
        if self.distill is not None:
            if not ck.get("distill"):
                raise CheckpointError(f"{self.cfg.resume}: it has no distillation state (projectors) to resume with "
                                      f"--teacher {self.cfg.teacher}")
            self.distill.distiller.load_state_dict(ck["distill"])
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
    def where_stopped(self) -> str:
        """Where an interrupted run is and how to go on, in one sentence (Ctrl-C, SIGTERM)."""
        if self.save_dir is None:
            return "resume with --resume"
        last = self.save_dir / "weights" / "last.pt"
        if not hasattr(self, "n_batches"):
            return (f"stopped while setting up, before epoch {self.start_epoch + 1 if hasattr(self, 'start_epoch') else 1}"
                    + (f"; resume with --resume {last}" if last.is_file() else "; run the same command again"))
        at = f"stopped in epoch {self.epoch + 1}/{self.cfg.epochs} at batch {self.batch_i + 1}/{self.n_batches}"
        if last.is_file():
            return (f"{at}; {last} holds the run at the end of the last finished epoch, and the epoch in progress "
                    f"restarts from its first batch: resume with --resume {last}")
        return f"{at}; no epoch finished, so nothing was saved: run the same command again"

    def elapsed(self) -> float:
        """Seconds since this epoch's first batch."""
        return max(time.time() - self._t_epoch, 1e-9)

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
        cfg = self.cfg
        self.n_batches = len(self.train_loader) if cfg.max_batches is None else min(cfg.max_batches, len(self.train_loader))
        self.log(f"training {cfg.cfg} on {cfg.data}: {len(self.train_ds)} images, {cfg.epochs} epochs, batch {cfg.batch} "
                 f"(x{self.accumulate} accumulation), img {cfg.img}, device {self.device}, results in {self.save_dir}")
        t_start = time.time()
        self.callbacks.fire("on_train_start", self)
        for epoch in range(self.start_epoch, cfg.epochs):
            stop.check()
            self.epoch = epoch
            self.train_one_epoch()
            if self.world > 1:  # every rank stops together (the decision is rank 0's)
                flag = torch.tensor([float(self.stop)], device=self.device)
                torch.distributed.broadcast(flag, 0)
                self.stop = bool(flag.item())
            if self.stop:
                break
        self.callbacks.fire("on_train_end", self)
        if self.main:
            self.log(f"done in {(time.time() - t_start) / 60:.1f} min; best mAP50-95 {max(self.best_fitness, 0):.4f}; "
                     f"weights in {self.save_dir / 'weights'}")
        barrier()
        cleanup()
        return self.metrics

    def train_one_epoch(self) -> None:
        epoch, nb = self.epoch, self.n_batches
        self.sampler.set_epoch(epoch)
        self.model.train()
        self.guard.start_epoch()
        self.mean_loss: dict[str, torch.Tensor] = {}  # running mean of each loss term this epoch
        self._t_epoch, self.n_seen, skipped = time.time(), 0, []
        self.callbacks.fire("on_epoch_start", self)
        self.optimizer.zero_grad(set_to_none=True)
        pending = 0  # batches whose gradients wait for the next step
        for i, batch in enumerate(self.train_loader):
            if i >= nb:
                break
            stop.check()  # a SIGTERM whose exception an extension swallowed
            self.batch_i, self.global_i, self.batch = i, i + nb * epoch, batch
            self.callbacks.fire("on_batch_start", self)
            imgs = normalize_images(batch["images"].to(self.device, non_blocking=True))
            imgs = imgs.contiguous(memory_format=self.memory_format)
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
                preds = self.model(imgs)
            self.imgs, self.preds = imgs, preds  # for on_loss callbacks (distillation runs its teacher on them)
            self.loss_terms = self.criterion.terms([p.float() for p in preds], batch["targets"].to(self.device),
                                                   batch["crowd"].to(self.device))
            self.callbacks.fire("on_loss", self, self.loss_terms)  # a callback may add a term (distillation)
            loss = weighted_total(self.loss_terms, self.loss_gains, len(imgs))
            self.loss_items = {k: v.detach() for k, v in self.loss_terms.items()}
            self.guard.observe(loss, i, epoch)
            self.scaler.scale(loss * self.world).backward()  # DDP averages gradients over ranks: undo it
            pending += 1
            if pending >= self.accumulate or i + 1 == nb:
                self.optimizer_step()
                pending = 0
            self.mean_loss = {k: (self.mean_loss.get(k, 0.0) * i + v) / (i + 1) for k, v in self.loss_items.items()}
            self.n_seen += len(imgs)
            for m in batch["meta"]:
                skipped += m.get("skipped", [])
            self.callbacks.fire("on_batch_end", self)
        self.train_s = time.time() - self._t_epoch
        note = self.guard.end_epoch(epoch, nb)
        if note:
            self.log(f"{note} (loss scale now {self.scaler.get_scale():g})")
        if skipped:
            self.log(f"epoch {epoch + 1}: {len(skipped)} unreadable image(s) skipped: "
                     + "; ".join(f"{p}: {r}" for p, r in skipped[:5]))
        self.callbacks.fire("on_epoch_end", self)

    def optimizer_step(self) -> None:
        """Unscale, clip, step (the fp16 GradScaler skips a step whose gradients overflowed), zero."""
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.clip_params, max_norm=self.hyp["grad_clip"])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.callbacks.fire("on_optimizer_step", self)
