"""From a data YAML to indexed splits and DataLoaders."""
from __future__ import annotations

import os

import torch
from torch.utils.data import DataLoader

from .crowds import ensure as ensure_crowds
from .dataset import DetectionDataset, EpochSampler, collate, seed_worker
from .formats import FORMATS
from .synthetic import ensure as ensure_synthetic
from .types import DataConfig, SplitIndex

__all__ = ["SplitIndex", "build_dataloader", "index_split"]


def index_split(cfg: DataConfig, split: str, decode: bool = False) -> SplitIndex:
    """Index one split with label checks (``decode=True`` also decodes every image)."""
    if cfg.synthetic is not None:
        ensure_synthetic(cfg.root, **cfg.synthetic)
    if cfg.crowds is not None:
        opts = dict(cfg.crowds)
        ensure_crowds(cfg.root, opts.pop("source"), **opts)
    if split not in cfg.splits:
        raise ValueError(f"{cfg.source}: no '{split}' split (has {sorted(cfg.splits)})")
    sp = cfg.splits[split]
    return FORMATS[sp.kind].index(cfg, sp, split, decode)


def build_dataloader(dataset: DetectionDataset, batch_size: int, workers: int = 2, shuffle: bool = True,
                     seed: int = 0, rank: int = 0, world_size: int = 1, pin_memory: bool | None = None
                     ) -> tuple[DataLoader, EpochSampler]:
    """DataLoader over ``(index, epoch)`` keys; call ``sampler.set_epoch(e)`` before each epoch."""
    workers = max(0, min(workers, os.cpu_count() or 1))
    sampler = EpochSampler(dataset, shuffle=shuffle, seed=seed, num_replicas=world_size, rank=rank)
    g = torch.Generator()
    g.manual_seed(seed + rank)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate,
                        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
                        persistent_workers=workers > 0, worker_init_fn=seed_worker, generator=g,
                        prefetch_factor=4 if workers > 0 else None)
    return loader, sampler
