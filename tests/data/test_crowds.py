"""The crowd task builder on the shared real COCO subsets (skipped without them): deterministic, exact
ground truth (amodal boxes, visible masks), splits from disjoint sources, and the data YAML's crowds: key."""
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from detector.data import index_split, load_data_config
from detector.data.crowds import box_iou_np, build, overlap_stats

from ..conftest import SHARED

SRC = SHARED / "data"
pytestmark = pytest.mark.skipif(not (SRC / "coco_val493").is_dir() or not (SRC / "coco128").is_dir(),
                                reason="needs ../shared/data/coco_val493 and coco128 (the real COCO subsets)")


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("crowds")
    stats = build(root / "a", SRC, seed=3, train=6, val=4, size=320, progress=False)
    return root, stats


def _load(root, split):
    return json.loads((root / "annotations" / f"instances_{split}.json").read_text())


def test_same_seed_same_task(task, tmp_path):
    root, _ = task
    build(tmp_path / "b", SRC, seed=3, train=6, val=4, size=320, progress=False)
    for split in ("train", "val"):
        assert _load(root / "a", split) == _load(tmp_path / "b", split)
        for im in _load(root / "a", split)["images"]:
            a = (root / "a" / "images" / split / im["file_name"]).read_bytes()
            assert a == (tmp_path / "b" / "images" / split / im["file_name"]).read_bytes()


def test_ground_truth_is_exact(task):
    root, _ = task
    for split in ("train", "val"):
        d = _load(root / "a", split)
        assert len(d["images"]) == (6 if split == "train" else 4)
        for im in d["images"]:
            anns = [a for a in d["annotations"] if a["image_id"] == im["id"]]
            assert 1 <= len(anns) <= 20
            masks = []
            for a in anns:
                x, y, w, h = a["bbox"]
                assert 0 <= x and 0 <= y and x + w <= im["width"] and y + h <= im["height"]
                m = mask_utils.decode(a["segmentation"])
                assert m.shape == (im["height"], im["width"])
                assert a["area"] == pytest.approx(m.sum()) and a["visible"] >= 0.25 - 1e-6
                ys, xs = np.nonzero(m)  # the visible pixels lie inside the amodal box
                assert xs.min() >= x - 1e-6 and xs.max() + 1 <= x + w + 1e-6
                assert ys.min() >= y - 1e-6 and ys.max() + 1 <= y + h + 1e-6
                masks.append(m)
            assert np.stack(masks).sum(0).max() <= 1  # each pixel belongs to at most one (the front) person


def test_splits_from_disjoint_sources_and_stats(task):
    root, stats = task
    tr = {a["source"].split(":")[0] for a in _load(root / "a", "train")["annotations"]}
    va = {a["source"].split(":")[0] for a in _load(root / "a", "val")["annotations"]}
    names493 = {im["file_name"] for im in json.loads(
        (SRC / "coco_val493" / "annotations" / "instances_val2017.json").read_text())["images"]}
    assert tr <= names493 and not va & names493
    d = _load(root / "a", "val")
    boxes = []
    for im in d["images"]:
        b = np.array([a["bbox"] for a in d["annotations"] if a["image_id"] == im["id"]], np.float64).reshape(-1, 4)
        b[:, 2:] += b[:, :2]
        boxes.append(b)
    assert overlap_stats(boxes) == {k: v for k, v in stats["val"].items() if k in overlap_stats(boxes)}
    assert stats["val"]["pairs_per_image_iou0.5"] > 0  # people do overlap


def test_overlap_stats_by_hand():
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]], np.float64)  # IoU(a0, a1) = 1/3
    s = overlap_stats([a, a[:1]])
    assert s["pairs_per_image_iou0.3"] == 0.5 and s["pairs_per_image_iou0.5"] == 0.0
    assert s["people"] == 4 and s["share_crowded_iou0.5"] == 0.0
    assert box_iou_np(a[:1], a[1:2])[0, 0] == pytest.approx(1 / 3)


def test_data_yaml_builds_the_task_on_first_use(tmp_path):
    y = tmp_path / "crowd.yaml"
    y.write_text(f"path: data\ntrain: {{images: images/train, annotations: annotations/instances_train.json}}\n"
                 f"val: {{images: images/val, annotations: annotations/instances_val.json}}\n"
                 f"crowds: {{source: {SRC}, seed: 1, train: 2, val: 2, size: 256}}\n")
    idx = index_split(load_data_config(y), "val")
    assert len(idx.records) == 2 and idx.names == ["person"] and not idx.issues
    stamp = (tmp_path / "data" / "stats.json").stat().st_mtime_ns
    index_split(load_data_config(y), "train")  # same options: not built again
    assert (tmp_path / "data" / "stats.json").stat().st_mtime_ns == stamp
