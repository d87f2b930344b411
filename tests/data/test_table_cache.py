"""The compact records table, the labels cache, the bounded tree walk, --fraction and the COCO-size
replica builder (at a small size)."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from detector.data import index_split, load_data_config
from detector.data.records import ImageRecord
from detector.data.replica import build_replica
from detector.data.table import RecordTable

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "coco_mini"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _records():
    seg = [np.array([1, 1, 5, 1, 5, 5], np.float32)]
    return [
        ImageRecord("a.jpg", 7, 10, 20, np.array([[0, 0, 4, 4], [1, 1, 9, 9]], np.float32), np.array([2, 0]),
                    np.zeros((0, 4), np.float32), name="sub/a.jpg", segments=[seg, None]),
        ImageRecord("b.jpg", 8, None, None, np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                    np.array([[0, 0, 1, 1]], np.float32), apply_exif=False, normalized=True, stem_ids=True,
                    crowd_classes=np.array([3])),
        ImageRecord("c.jpg", 9, 5, 5, np.array([[1, 1, 2, 2]], np.float32), np.array([1]), np.zeros((0, 4), np.float32),
                    segments=[{"counts": "xyz", "size": [5, 5]}]),
    ]


def _same(a: ImageRecord, b: ImageRecord) -> None:
    assert (a.path, a.image_id, a.height, a.width, a.apply_exif, a.normalized, a.stem_ids, a.name) == \
        (b.path, b.image_id, b.height, b.width, b.apply_exif, b.normalized, b.stem_ids, b.name)
    for k in ("boxes", "classes", "crowd"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert (a.crowd_classes is None) == (b.crowd_classes is None)
    if a.crowd_classes is not None:
        np.testing.assert_array_equal(a.crowd_classes, b.crowd_classes)
    assert (a.segments is None) == (b.segments is None)
    for x, y in zip(a.segments or [], b.segments or []):
        if isinstance(x, dict) or x is None:
            assert x == y
        else:
            assert [list(p) for p in x] == [list(p) for p in y]


def test_table_round_trip_take_slice_and_arrays():
    recs = _records()
    t = RecordTable.from_records(recs)
    assert len(t) == 3
    for a, b in zip(recs, t):
        _same(a, b)
    _same(t[-1], recs[2])
    r = t.take([2, 0])
    assert [x.image_id for x in r] == [9, 7] and [x.image_id for x in r.take([1])] == [7]
    assert [x.image_id for x in t[1:]] == [8, 9]
    np.testing.assert_array_equal(t.donors(), [[0, 0], [2, 0]])  # the boxes with a mask
    np.testing.assert_array_equal(r.donors(), [[0, 0], [1, 0]])
    np.testing.assert_array_equal(t.box_counts(), [2, 0, 1])
    back = RecordTable.from_arrays(r.to_arrays())
    for a, b in zip(back, r):
        _same(a, b)
    with pytest.raises(ValueError, match="read-only"):
        t[0].boxes[0, 0] = 5  # views into the shared table: mutation would change every later read
    with pytest.raises(IndexError):
        t[3]


def _coco_yaml(tmp_path, images=None):
    root = tmp_path / "ds"
    (root / "annotations").mkdir(parents=True)
    (root / "images").symlink_to(images or (FIX / "images" / "train2017"))
    (root / "annotations" / "instances.json").write_bytes((FIX / "annotations" / "instances.json").read_bytes())
    y = tmp_path / "d.yaml"
    y.write_text(f"path: {root}\ntrain: {{images: images, annotations: annotations/instances.json}}\n")
    return y, root


def test_labels_cache_hit_and_invalidation(tmp_path, monkeypatch, capsys):
    import detector.data.formats.coco as coco_fmt

    y, root = _coco_yaml(tmp_path)
    cfg = load_data_config(y)
    first = index_split(cfg, "train")
    cache = root / "annotations" / "instances.labels.npz"
    assert cache.is_file()
    calls = []
    real = coco_fmt.index_coco
    monkeypatch.setattr(coco_fmt, "index_coco", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = index_split(cfg, "train")
    assert calls == []  # served from the cache
    assert [str(i) for i in second.issues] == [str(i) for i in first.issues]
    assert second.cat_ids == first.cat_ids and second.names == first.names
    for a, b in zip(first.records, second.records):
        _same(a, b)
    # a changed json, another option, or a changed image: indexed again
    ann = root / "annotations" / "instances.json"
    d = json.loads(ann.read_text())
    d["annotations"] = d["annotations"][1:]
    ann.write_text(json.dumps(d))
    third = index_split(cfg, "train")
    assert calls == [1] and sum(len(r.boxes) + len(r.crowd) for r in third.records) == \
        sum(len(r.boxes) + len(r.crowd) for r in first.records) - 1
    index_split(cfg, "train", decode=True)
    assert calls == [1, 1]
    index_split(cfg, "train")
    assert calls == [1, 1]  # the decode=False cache was rewritten after the json changed
    # a corrupt cache is rebuilt, never trusted
    cache.write_bytes(b"garbage")
    again = index_split(cfg, "train")
    assert calls == [1, 1, 1] and len(again.records) == len(third.records)
    assert "unreadable" in capsys.readouterr().out


def test_labels_cache_sees_a_changed_image(tmp_path, monkeypatch):
    import shutil

    import detector.data.formats.coco as coco_fmt

    imgs = tmp_path / "imgs"
    shutil.copytree(FIX / "images" / "train2017", imgs)
    y, root = _coco_yaml(tmp_path, imgs)
    cfg = load_data_config(y)
    n0 = len(index_split(cfg, "train").records)
    victim = sorted(imgs.iterdir())[0]
    victim.write_bytes(b"")  # now a zero-byte file
    idx = index_split(cfg, "train")
    assert len(idx.records) == n0 - 1 and any("zero-byte" in str(i) for i in idx.issues)
    calls = []
    monkeypatch.setattr(coco_fmt, "index_coco", lambda *a, **k: calls.append(1))
    assert len(index_split(cfg, "train").records) == n0 - 1 and calls == []


def test_labels_cache_read_only_folder_and_switch(tmp_path, monkeypatch, capsys):
    y, root = _coco_yaml(tmp_path)
    (root / "annotations").chmod(0o555)
    try:
        if os.access(root / "annotations", os.W_OK):
            pytest.skip("running as a user that can write read-only folders (root)")
        idx = index_split(load_data_config(y), "train")
        assert len(idx.records) == 5 and "labels cache not written" in capsys.readouterr().out
    finally:
        (root / "annotations").chmod(0o755)
    monkeypatch.setenv("DETECTOR_NO_LABELS_CACHE", "1")
    index_split(load_data_config(y), "train")
    assert not (root / "annotations" / "instances.labels.npz").exists()


def test_labels_cache_unwritable_file_says_so(tmp_path, monkeypatch, capsys):
    import detector.data.cache as cache

    y, root = _coco_yaml(tmp_path)

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(cache.os, "replace", denied)
    assert len(index_split(load_data_config(y), "train").records) == 5
    assert "labels cache not written" in capsys.readouterr().out
    assert not list((root / "annotations").glob("*.npz*"))  # no temporary file left behind


@pytest.mark.skipif(not (SHARED / "coco128").is_dir(), reason="shared data (../shared/data/coco128) absent")
def test_replica_builds_both_layouts_with_the_same_boxes(tmp_path):
    src = [(SHARED / "coco128/images/train2017", SHARED / "coco128/annotations/instances_train2017.json")]
    made = build_replica(tmp_path / "r", src, src, {"train2017": 300, "val2017": 20}, seed=1)
    assert [m.images for m in made] == [300, 20]
    tr = json.loads(made[0].json_path.read_text())
    assert len({im["id"] for im in tr["images"]}) == 300 and len({a["id"] for a in tr["annotations"]}) == made[0].annotations
    assert made[0].annotations > 300 * 5  # coco128 has ~7 boxes an image: real annotations, replicated
    assert all((tmp_path / "r/images/train2017" / im["file_name"]).is_symlink() for im in tr["images"][:20])
    va = json.loads(made[1].json_path.read_text())
    assert not {im["id"] for im in tr["images"]} & {im["id"] for im in va["images"]}
    ours = index_split(load_data_config(tmp_path / "r/coco.yaml"), "train")
    ul = index_split(load_data_config(tmp_path / "r/coco_yolo.yaml"), "train")
    assert len(ours.records) == len(ul.records) == 300 and len(ul.names) == 80
    by_name = {Path(r.path).name: r for r in ul.records}
    for r in ours.records:
        u = by_name[Path(r.path).name]
        assert u.image_id == r.image_id  # COCO-style numeric file names: Ultralytics' int(stem) ids
        np.testing.assert_allclose(u.boxes * [r.width, r.height, r.width, r.height], r.boxes, atol=0.01)
        np.testing.assert_array_equal(u.classes, r.classes)
    again = build_replica(tmp_path / "r2", src, src, {"train2017": 300, "val2017": 20}, seed=1)
    assert again[0].json_path.read_bytes() == made[0].json_path.read_bytes()  # deterministic


def test_tree_walk_bounds_beside_an_honest_tree(tmp_path):
    """The file-system root and a tree over the bound are refused with a sentence; an honest tree under
    the same function passes (COCO train2017's 118 k images and their labels are far below the bound)."""
    from detector.data.records import MAX_TREE_ENTRIES, iter_tree, walk_files

    with pytest.raises(ValueError, match="is the file-system root"):
        walk_files(Path("/"))
    y = tmp_path / "root.yaml"
    y.write_text("path: /\ntrain: /\nnames: [a]\n")
    with pytest.raises(ValueError, match="file-system root"):
        index_split(load_data_config(y), "train")
    for k in range(30):
        (tmp_path / f"d{k % 3}").mkdir(exist_ok=True)
        (tmp_path / f"d{k % 3}" / f"{k}.txt").write_text("")
    with pytest.raises(ValueError, match="more than 20 files and folders"):
        list(iter_tree(tmp_path, limit=20))
    assert sum(len(f) for _, f in iter_tree(tmp_path, limit=40)) == 31  # the 30 files and root.yaml
    assert MAX_TREE_ENTRIES >= 4 * 118_287  # images + labels of train2017, twice over


def test_fraction_trains_on_the_first_share(tiny_data, tmp_path):
    from detector.train import TrainConfig, Trainer

    t = Trainer(TrainConfig(cfg="cfg/yolo_ca_bifpn.yaml", data=str(tiny_data), epochs=1, batch=4, img=64, workers=0,
                            project=str(tmp_path), name="f", fraction=0.25, scale="n", max_batches=1, plots=False))
    t.setup()
    assert len(t.train_ds) == 6 and len(t.train_idx.records) == 24
    assert [r.path for r in t.train_ds.records] == [r.path for r in t.train_idx.records[:6]]
