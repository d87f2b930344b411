"""RAM cache of decoded images (--cache): filled once in the main process, same samples, memory guard."""
from pathlib import Path

import torch

import detector.data.dataset as dsmod
from detector.data.dataset import DetectionDataset
from detector.data.coco_index import index_coco

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "coco_mini"


def _records():
    recs, _, _, _ = index_coco(FIX / "images" / "train2017", FIX / "annotations" / "instances.json", "train")
    return recs


def test_fill_cache_decodes_once_and_gives_the_same_samples(monkeypatch):
    plain = DetectionDataset(_records(), img_size=160, augment=True)
    cached = DetectionDataset(_records(), img_size=160, augment=True)
    assert cached.fill_cache(threads=2, progress=False)
    assert len(cached._cache) == len(cached.records)
    est = cached.cache_bytes()
    real = sum(v[0].nbytes for v in cached._cache.values())
    assert abs(est - real) <= 0.01 * real  # the estimate the memory guard uses is right

    def no_disk(*a, **k):
        raise AssertionError("a cached image was read from disk again")

    keys = [(0, 0), (3, 1), (4, 2)]  # (index, epoch): mosaic samples that draw other images too
    expected = [plain[k] for k in keys]
    monkeypatch.setattr(dsmod, "read_image", no_disk)
    for a, k in zip(expected, keys):
        b = cached[k]
        assert torch.equal(a["img"], b["img"]) and torch.equal(a["labels"], b["labels"])


def test_fill_cache_refuses_when_ram_is_short(monkeypatch, capsys):
    ds = DetectionDataset(_records(), img_size=160)
    monkeypatch.setattr(dsmod, "available_memory", lambda: ds.cache_bytes())  # needs 100 % of what is free
    assert not ds.fill_cache(progress=False)
    assert not ds._cache and not ds.cache
    assert "not caching" in capsys.readouterr().out


def test_fill_cache_leaves_unreadable_images_to_the_loader(broken_then_good):
    ds = DetectionDataset(broken_then_good, img_size=32)
    assert ds.fill_cache(progress=False)
    assert list(ds._cache) == [1]
    s = ds[0]  # the bad image is reported and replaced, as without a cache
    assert s["meta"]["skipped"][0][0] == broken_then_good[0].path


def test_rect_pad_adds_a_border_in_strides_as_ultralytics_val():
    """--rect-pad 0.5 (Ultralytics' val): each rectangular batch shape is ceil(size / stride + 0.5) strides, so
    every image gets at least half a stride of border (a 160 px side runs at 192); the scale is unchanged."""
    plain = DetectionDataset(_records(), img_size=160, rect=True, batch_size=2)
    padded = DetectionDataset(_records(), img_size=160, rect=True, batch_size=2, rect_pad=0.5)
    assert all(b >= a for sa, sb in zip(plain.batch_shapes, padded.batch_shapes) for a, b in zip(sa, sb))
    for i in range(len(padded)):
        s0, s1 = plain[i], padded[i]
        assert s1["meta"]["ratio"] == s0["meta"]["ratio"]  # the same scale, a wider border
        h, w = s1["img"].shape[1:]
        inner = [h - 2 * s1["meta"]["pad"][1], w - 2 * s1["meta"]["pad"][0]]  # the resized image
        assert min(h - inner[0], w - inner[1]) >= 16 - 1  # at least half a stride of border (1 px of rounding)
        assert max(inner) == 160 and max(h, w) == 192
