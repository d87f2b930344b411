"""Detection dataset, sampler and collate.

Samples: ``img`` Tensor[3, H, W] uint8 RGB; ``labels`` Tensor[n, 5] (class, x1, y1, x2, y2) in
network-input pixels; ``crowd`` Tensor[m, 4] ignore regions; ``meta`` with what maps predictions
back to the original image: x_orig = (x - pad_left) / ratio_x, y_orig = (y - pad_top) / ratio_y.

Randomness of augmentation depends only on (seed, epoch, index), never on worker scheduling, so
runs are reproducible with any number of workers and resumable mid-run: the sampler yields
``(index, epoch)`` keys.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from ..hyp import AugmentHyp, group_of
from .copy_paste import instance_mask, paste
from .image_io import ImageReadError, read_image
from .records import ImageRecord
from .table import RecordTable
from .transforms import augment_hsv, hflip, letterbox, mixup, random_affine

DEFAULT_AUG = group_of({}, AugmentHyp)  # the augmentation defaults, from detector/hyp.py


@dataclass
class Loaded:
    img: np.ndarray  # resized so that the long side is img_size
    boxes: np.ndarray  # [N, 4] in the resized image
    classes: np.ndarray
    crowd: np.ndarray
    orig_shape: tuple[int, int]
    ratio: tuple[float, float]  # (x, y) scale from the original image


def _take(records, positions):
    """The records at ``positions``, as the same kind of sequence (a table stays a table)."""
    if isinstance(records, RecordTable):
        return records.take(positions)
    return [records[int(i)] for i in positions]


def _donors(records) -> np.ndarray:
    """[M, 2] (record position, box index) of every box with an instance mask (copy-paste donors)."""
    if isinstance(records, RecordTable):
        return records.donors()
    d = [(i, k) for i, r in enumerate(records) if r.segments for k, sg in enumerate(r.segments) if sg is not None]
    return np.array(d, np.int64).reshape(-1, 2)


class DetectionDataset(Dataset):
    """A split's records as training or validation samples (uint8 CHW letterboxed image, targets in
    pixels, crowd regions, meta to map boxes back).

    Contents: reading (``load_image``: decode or the RAM cache, resized so the long side is ``img_size``;
    ``load``: the image with its boxes, classes, crowd regions and masks; ``cache_bytes`` / ``fill_cache``);
    sampling (``__getitem__`` takes an (index, epoch) key from :class:`EpochSampler`, ``_sample`` draws
    mosaic (``_mosaic``) or a single image (``_load_aug``) then the affine, colour and flip augmentation, or
    letterboxes for validation); rectangular validation batches (``_init_rect``: each batch padded only to a
    multiple of ``stride``). One bad image is skipped and listed (``unreadable``), never fatal."""

    def __init__(self, records: list[ImageRecord], img_size: int = 640, augment: bool = False, hyp: dict | None = None,
                 rect: bool = False, batch_size: int = 16, stride: int = 32, seed: int = 0,
                 close_mosaic_epoch: int | None = None, rect_pad: float = 0.0):
        # a RecordTable (COCO/YOLO indexing) stays one: a few arrays shared by every DataLoader worker, where a
        # list of record objects would be copied page by page into each worker as they are touched
        self.records = records if isinstance(records, RecordTable) else list(records)
        self.img_size, self.augment, self.stride, self.seed = img_size, augment, stride, seed
        self.hyp = {**DEFAULT_AUG, **(hyp or {})}
        self.close_mosaic_epoch = close_mosaic_epoch
        self.cache = False  # set by fill_cache(), which fills it before any worker forks
        self._cache: dict[int, tuple[np.ndarray, tuple[int, int], float]] = {}
        self._exif_flipped: set[int] = set()  # records whose label size matches the raw (un-rotated) pixels
        self.batch_shapes = None
        self.rect_pad = float(rect_pad)  # extra border of each rectangular batch, in strides (Ultralytics' val: 0.5)
        # copy-paste donors: (record index, box index) of every instance with a mask
        self.donors = _donors(self.records) if augment else np.zeros((0, 2), np.int64)
        if augment and self.hyp["copy_paste"] and not len(self.donors):
            print(f"copy_paste {self.hyp['copy_paste']}: the labels carry no instance masks (COCO segmentation or "
                  "YOLO-seg polygons), so nothing is pasted", flush=True)
        self.unreadable: list[tuple[str, str]] = []  # (path, reason) of images left out at construction
        if rect:
            self._init_rect(batch_size)

    def __len__(self) -> int:
        return len(self.records)

    # ----------------------------------------------------------------- loading
    def _init_rect(self, batch_size: int) -> None:
        """Rectangular batches: sort by aspect ratio, one minimal padded shape per batch."""
        def ar(r):
            if r.height and r.width:
                return r.height / r.width
            try:
                h, w = read_image(r.path, r.apply_exif).shape[:2]
            except ImageReadError as e:  # e.g. a truncated JPEG whose header passed the indexing check
                self.unreadable.append((r.path, str(e)))
                return None
            return h / w
        h, w = self.records.hw() if isinstance(self.records, RecordTable) else (None, None)
        if h is not None and h.all() and w.all():
            ars = h / w  # every size known from the labels: no record objects built
        else:
            ars = [ar(r) for r in self.records]
            keep = [i for i, a in enumerate(ars) if a is not None]  # the others skipped, named in .unreadable
            self.records = _take(self.records, keep)
            ars = np.array([ars[i] for i in keep])
        if not len(ars):
            return
        order = np.argsort(ars)
        self.records = _take(self.records, order)
        ars = ars[order]
        n_batches = math.ceil(len(ars) / batch_size)
        shapes = []
        for b in range(n_batches):
            a = ars[b * batch_size:(b + 1) * batch_size]
            hw = [1.0, 1.0]
            if a.max() < 1:
                hw = [a.max(), 1.0]
            elif a.min() > 1:
                hw = [1.0, 1 / a.min()]
            shapes.append([int(math.ceil(self.img_size * s / self.stride + self.rect_pad)) * self.stride for s in hw])
        self.batch_shapes = [shapes[i // batch_size] for i in range(len(ars))]

    def load_image(self, i: int) -> tuple[np.ndarray, tuple[int, int], float]:
        """Decoded image resized so that its long side is ``img_size``; (img, (h0, w0), ratio)."""
        if i in self._cache:
            return self._cache[i]
        rec = self.records[i]
        exif = rec.apply_exif != (i in self._exif_flipped)  # kept here: a table's records are built anew each time
        img = read_image(rec.path, exif)
        if rec.height and rec.width and img.shape[:2] != (rec.height, rec.width):
            if img.shape[:2] == (rec.width, rec.height):  # annotation refers to the raw pixels
                self._exif_flipped ^= {i}
                img = read_image(rec.path, not exif)
        h0, w0 = img.shape[:2]
        r = self.img_size / max(h0, w0)
        if r != 1:
            img = cv2.resize(img, (max(1, round(w0 * r)), max(1, round(h0 * r))),
                             interpolation=cv2.INTER_LINEAR if r > 1 or self.augment else cv2.INTER_AREA)
        out = (img, (h0, w0), r)
        if self.cache:
            self._cache[i] = out
        return out

    def cache_bytes(self) -> int:
        """Estimated RAM of the decoded, resized images (from the sizes the labels record)."""
        if isinstance(self.records, RecordTable):
            h, w = self.records.hw()
        else:
            h = np.array([r.height or 0 for r in self.records], np.int64)
            w = np.array([r.width or 0 for r in self.records], np.int64)
        known = (h > 0) & (w > 0)
        h = np.where(known, h, self.img_size).astype(np.float64)
        w = np.where(known, w, self.img_size).astype(np.float64)
        k = self.img_size / np.maximum(h, w)  # load_image scales the long side to img_size
        return int((np.round(h * k) * np.round(w * k) * 3).sum())

    def fill_cache(self, threads: int = 4, progress: bool = True, max_fraction: float = 0.5, copies: int = 1,
                   max_bytes: float = float("inf"), quiet: bool = False) -> bool:
        """Decode every image once, in this process, before DataLoader workers start: forked
        workers then share the cached arrays instead of each filling a copy of its own.
        Returns False (and caches nothing) when ``copies`` caches (one per DDP process) would take
        more than ``max_fraction`` of the available RAM or more than ``max_bytes``. Unreadable
        images are left out; loading reports them later."""
        need, avail = self.cache_bytes(), available_memory()
        if need * copies > max_bytes or (avail is not None and need * copies > max_fraction * avail):
            if not quiet:
                print(f"cache: {len(self.records)} images need ~{need * copies / 2**30:.2f} GiB of RAM, more than "
                      f"{max_fraction:.0%} of the {(avail or 0) / 2**30:.1f} GiB available"
                      + (f" or {max_bytes / 2**30:.1f} GiB" if max_bytes < float("inf") else "")
                      + ": not caching", flush=True)
            return False
        self.cache = True
        from concurrent.futures import ThreadPoolExecutor

        from tqdm import tqdm

        def one(i):
            try:
                self.load_image(i)
            except ImageReadError:
                pass

        with ThreadPoolExecutor(max(1, threads)) as ex:  # cv2 decoding releases the GIL
            list(tqdm(ex.map(one, range(len(self.records))), total=len(self.records), disable=not progress,
                      desc=f"caching {len(self.records)} images (~{need / 2**20:.0f} MiB)", leave=False))
        return True

    def load(self, i: int) -> Loaded:
        img, (h0, w0), r = self.load_image(i)
        rec = self.records[i]
        boxes = rec.boxes.copy()
        crowd = rec.crowd.copy()
        if rec.normalized:
            boxes *= np.array([w0, h0, w0, h0], np.float32)
        # boxes are in original pixels: scale to the resized image (ratio per axis after rounding)
        sx, sy = img.shape[1] / w0, img.shape[0] / h0
        scale = np.array([sx, sy, sx, sy], np.float32)
        return Loaded(img, boxes * scale, rec.classes.copy(), crowd * scale, (h0, w0), (sx, sy))

    def _mask(self, i: int, ld: Loaded, k: int) -> np.ndarray | None:
        """Full-image mask of record i's box k at the loaded scale (None where the box has no mask)."""
        rec = self.records[i]
        sg = rec.segments[k] if rec.segments else None
        if sg is None:
            return None
        h0, w0 = ld.orig_shape
        sx, sy = ld.ratio
        if rec.normalized:
            sx, sy = sx * w0, sy * h0
        return instance_mask(sg, (sx, sy), ld.img.shape[:2], (h0, w0))

    def _load_aug(self, i: int, rng: np.random.Generator) -> Loaded:
        """:meth:`load`, then copy-paste (data/copy_paste.py) when it is on and the data has masks. Draws
        nothing from ``rng`` when copy-paste is off, so runs without it are unchanged."""
        ld = self.load(i)
        p = self.hyp["copy_paste"]
        if not (p and len(self.donors) and len(ld.boxes) == len(self.records[i].classes)) or rng.random() >= p:
            return ld
        donors = []
        for _ in range(int(rng.integers(1, int(self.hyp["copy_paste_n"]) + 1))):
            j, k = (int(v) for v in self.donors[int(rng.integers(len(self.donors)))])
            if j == i:
                continue
            try:
                dj = self.load(j)
            except ImageReadError:  # a bad donor costs one paste, never the sample
                continue
            m = self._mask(j, dj, k)  # only the donor instance's mask is drawn
            x1, y1, x2, y2 = (int(round(v)) for v in dj.boxes[k])
            x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
            if m is None or not m[y1:y2, x1:x2].any():
                continue
            donors.append((dj.img[y1:y2, x1:x2], m[y1:y2, x1:x2], int(dj.classes[k])))
        if not donors:
            return ld
        masks = [self._mask(i, ld, k) for k in range(len(ld.boxes))]
        img, boxes, classes = paste(ld.img, ld.boxes, ld.classes, masks, donors, rng,
                                    float(self.hyp["copy_paste_near"]), bool(self.hyp["copy_paste_amodal"]))
        return Loaded(img, boxes, classes, ld.crowd, ld.orig_shape, ld.ratio)

    # ----------------------------------------------------------------- samples
    def __getitem__(self, key):
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        skipped = []
        for attempt in range(len(self)):
            i = (index + attempt) % len(self)
            try:
                return self._sample(i, epoch, skipped)
            except ImageReadError as e:
                skipped.append((self.records[i].path, str(e)))
        raise RuntimeError(f"no readable image in the dataset; last errors: {skipped[-3:]}")

    def _sample(self, i: int, epoch: int, skipped: list) -> dict:
        rng = np.random.default_rng([self.seed, epoch, i])
        h = self.hyp
        use_mosaic = self.augment and rng.random() < h["mosaic"] and (
            self.close_mosaic_epoch is None or epoch < self.close_mosaic_epoch)
        if use_mosaic:
            img, boxes, classes, crowd = self._mosaic(i, rng, skipped)
            if h["mixup"] and rng.random() < h["mixup"]:
                j = int(rng.integers(len(self)))
                img, boxes, classes, crowd = mixup((img, boxes, classes, crowd), self._mosaic(j, rng, skipped), rng)
            meta_ratio, pad, orig = (1.0, 1.0), (0.0, 0.0), None
        else:
            s = self._load_aug(i, rng)
            shape = tuple(self.batch_shapes[i]) if self.batch_shapes else (self.img_size, self.img_size)
            img, (rx, ry), (pl, pt) = letterbox(s.img, shape, scaleup=self.augment)
            off = np.array([pl, pt, pl, pt], np.float32)
            sc = np.array([rx, ry, rx, ry], np.float32)
            boxes, crowd, classes = s.boxes * sc + off, s.crowd * sc + off, s.classes
            meta_ratio, pad, orig = (s.ratio[0] * rx, s.ratio[1] * ry), (pl, pt), s.orig_shape
            if self.augment:
                img, boxes, classes, crowd = random_affine(img, boxes, classes, crowd, rng, h["degrees"], h["translate"],
                                                           h["scale"], h["shear"])
        if self.augment:
            img = augment_hsv(img, rng, h["hsv_h"], h["hsv_s"], h["hsv_v"])
            if rng.random() < h["fliplr"]:
                img, boxes, crowd = hflip(img, boxes, crowd)
        rec = self.records[i]
        labels = np.concatenate([classes[:, None].astype(np.float32), boxes.reshape(-1, 4)], 1)
        img_t = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)))
        meta = dict(image_id=rec.image_id, path=rec.path, orig_shape=orig, ratio=meta_ratio, pad=pad, skipped=skipped)
        return dict(img=img_t, labels=torch.from_numpy(labels), crowd=torch.from_numpy(crowd.reshape(-1, 4)), meta=meta)

    def _mosaic(self, i: int, rng: np.random.Generator, skipped: list):
        """4-image mosaic on a 2s x 2s canvas around a random centre, then random affine cropped to s x s."""
        s = self.img_size
        xc, yc = (int(rng.uniform(s * 0.5, s * 1.5)) for _ in range(2))
        idx = [i] + [int(k) for k in rng.integers(0, len(self), 3)]
        canvas = np.full((2 * s, 2 * s, 3), 114, np.uint8)
        all_b, all_c, all_cr = [], [], []
        for k, j in enumerate(idx):
            try:
                ld = self._load_aug(j, rng)
            except ImageReadError as e:
                if k == 0:
                    raise
                skipped.append((self.records[j].path, str(e)))
                continue
            h, w = ld.img.shape[:2]
            if k == 0:  # top left
                x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
                x1b, y1b, x2b, y2b = w - (x2a - x1a), h - (y2a - y1a), w, h
            elif k == 1:  # top right
                x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, 2 * s), yc
                x1b, y1b, x2b, y2b = 0, h - (y2a - y1a), min(w, x2a - x1a), h
            elif k == 2:  # bottom left
                x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(2 * s, yc + h)
                x1b, y1b, x2b, y2b = w - (x2a - x1a), 0, w, min(y2a - y1a, h)
            else:  # bottom right
                x1a, y1a, x2a, y2a = xc, yc, min(xc + w, 2 * s), min(2 * s, yc + h)
                x1b, y1b, x2b, y2b = 0, 0, min(w, x2a - x1a), min(y2a - y1a, h)
            canvas[y1a:y2a, x1a:x2a] = ld.img[y1b:y2b, x1b:x2b]
            off = np.array([x1a - x1b, y1a - y1b] * 2, np.float32)
            all_b.append(ld.boxes + off)
            all_c.append(ld.classes)
            all_cr.append(ld.crowd + off)
        boxes, classes, crowd = np.concatenate(all_b), np.concatenate(all_c), np.concatenate(all_cr)
        h = self.hyp
        return random_affine(canvas, boxes, classes, crowd, rng, h["degrees"], h["translate"], h["scale"], h["shear"],
                             border=(-s // 2, -s // 2))


class EpochSampler(Sampler):
    """Yields ``(index, epoch)`` keys; shuffling and DDP sharding by ``DistributedSampler``
    (``num_replicas=1`` without DDP). Call ``set_epoch`` before each epoch."""

    def __init__(self, dataset: Dataset, shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        self.inner = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                                        drop_last=False)

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def __iter__(self):
        e = self.inner.epoch
        return ((i, e) for i in self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def collate(samples: list[dict]) -> dict:
    """-> images Tensor[B, 3, H, W] uint8; targets Tensor[T, 6] (batch index, class, x1, y1, x2, y2);
    crowd Tensor[C, 5] (batch index, x1, y1, x2, y2); meta: list of per-image dicts."""
    imgs = torch.stack([s["img"] for s in samples])
    targets = [torch.cat([torch.full((len(s["labels"]), 1), float(b)), s["labels"]], 1) for b, s in enumerate(samples)]
    crowd = [torch.cat([torch.full((len(s["crowd"]), 1), float(b)), s["crowd"]], 1) for b, s in enumerate(samples)]
    return dict(images=imgs, targets=torch.cat(targets).reshape(-1, 6), crowd=torch.cat(crowd).reshape(-1, 5),
                meta=[s["meta"] for s in samples])


def available_memory() -> int | None:
    """Bytes of RAM available now (Linux/macOS sysconf), None where unknown."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def seed_worker(worker_id: int) -> None:
    """Deterministic per-worker seeds for any library randomness outside the per-sample RNG.
    OpenCV's own thread pool is turned off in workers: the workers already run in parallel, and
    extra threads only compete with the training process for the cores."""
    cv2.setNumThreads(0)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    import random

    random.seed(seed)
