"""From a data YAML to indexed splits and DataLoaders."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader

from .config import DataConfig
from .dataset import DetectionDataset, EpochSampler, collate, seed_worker
from .records import ImageRecord, Issue, index_coco, index_yolo
from .synthetic import ensure as ensure_synthetic


@dataclass
class SplitIndex:
    split: str
    kind: str  # 'coco' or 'yolo'
    records: list[ImageRecord]
    issues: list[Issue]
    names: list[str]
    cat_ids: list[int]  # dataset category id of each contiguous class (COCO: the json's; YOLO: class + 1)
    ann_file: str | None = None
    extra: dict = field(default_factory=dict)
    subset: bool = False  # the data YAML's 'classes' keeps only some of the json's categories

    @property
    def n_rejected(self) -> int:
        return sum(i.severity == "rejected" for i in self.issues)


def index_split(cfg: DataConfig, split: str, decode: bool = False) -> SplitIndex:
    """Index one split with label checks (``decode=True`` also decodes every image)."""
    if cfg.synthetic is not None:
        ensure_synthetic(cfg.root, **cfg.synthetic)
    if split not in cfg.splits:
        raise ValueError(f"{cfg.source}: no '{split}' split (has {sorted(cfg.splits)})")
    sp = cfg.splits[split]
    if sp.kind == "coco":
        if not sp.annotations.is_file():
            raise ValueError(f"{cfg.source}: {split} annotations not found: {sp.annotations}")
        if not sp.images.is_dir():
            raise ValueError(f"{cfg.source}: {split} image folder not found: {sp.images}")
        records, issues, cat_ids, names = index_coco(sp.images, sp.annotations, split, decode, cfg.classes)
        return SplitIndex(split, "coco", records, issues, names, cat_ids, str(sp.annotations),
                          subset=cfg.classes is not None)
    if sp.kind == "voc":
        return _index_voc(cfg, sp, split, decode)
    all_names = cfg.names or []
    class_map, names = None, all_names
    if cfg.classes is not None:
        missing = [n for n in cfg.classes if n not in all_names]
        if missing:
            raise ValueError(f"{cfg.source}: 'classes' names {missing} are not in its names {all_names}")
        keep = [i for i, n in enumerate(all_names) if n in cfg.classes]
        class_map, names = {old: new for new, old in enumerate(keep)}, [all_names[i] for i in keep]
    records, issues = index_yolo(sp.images, len(all_names), split, decode, class_map)
    # YOLO txt: category id = class index + 1, as Ultralytics writes results files (interchangeable json)
    return SplitIndex(split, "yolo", records, issues, names, list(range(1, len(names) + 1)))


def _index_voc(cfg: DataConfig, sp, split: str, decode: bool) -> SplitIndex:
    from .voc import collect_names, index_voc

    if not sp.annotations.is_file():
        raise ValueError(f"{cfg.source}: {split} image list not found: {sp.annotations}")
    if cfg.names is None:  # from the XML files of every split, sorted, so that all splits agree
        cfg.names = collect_names(cfg.root, [s.annotations for s in cfg.splits.values() if s.annotations.is_file()])
        print(f"{cfg.source}: no 'names': {len(cfg.names)} classes collected from the XML files: {cfg.names}")
    names = cfg.names
    if cfg.classes is not None:
        missing = [n for n in cfg.classes if n not in names]
        if missing:
            raise ValueError(f"{cfg.source}: 'classes' names {missing} are not in its names {names}")
        names = [n for n in names if n in cfg.classes]
    records, issues = index_voc(cfg.root, sp.annotations, names, split, decode, known=cfg.names)
    return SplitIndex(split, "voc", records, issues, names, list(range(1, len(names) + 1)), str(sp.annotations))


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
