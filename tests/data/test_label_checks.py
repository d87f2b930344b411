"""Planted defects of every kind are reported with the right reason; good data still loads."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from detector.data.coco_index import index_coco
from detector.data.records import index_yolo

ROOT = Path(__file__).resolve().parents[2]


def _img(path, h=100, w=200):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))


def make_yolo(root: Path):
    imgs = root / "images" / "train"
    for n in ["good", "labels", "corrupt", "zero", "bg"]:
        _img(imgs / f"{n}.jpg")
    (imgs / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + b"garbage" * 10)  # JPEG header, broken body
    (imgs / "zero.jpg").write_bytes(b"")
    (imgs / "notes.txt").write_text("not an image")
    (imgs / "fake.png").write_bytes(b"this is text, not a png")
    lab = root / "labels" / "train"
    lab.mkdir(parents=True)
    (lab / "good.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n")
    (lab / "labels.txt").write_text("\n".join([
        "0 0.5 0.5 0.2 0.2",  # 1 ok
        "0 nan 0.5 0.2 0.2",  # 2 NaN
        "0 0.5 0.5 -0.2 0.2",  # 3 negative size
        "0 0.5 0.5 0 0.2",  # 4 zero size
        "0 0.95 0.5 0.2 0.2",  # 5 partly outside: clipped
        "0 1.5 0.5 0.2 0.2",  # 6 fully outside
        "7 0.5 0.5 0.2 0.2",  # 7 unknown class
        "0 0.5 0.5 0.2 0.2",  # 8 duplicate of line 1
        "0 0.5 0.5 0.2",  # 9 wrong column count
        "0 0.5 x 0.2 0.2",  # 10 non-numeric
        "1.5 0.5 0.5 0.2 0.2",  # 11 non-integer class
    ]) + "\n")


def test_yolo_planted_defects(tmp_path):
    make_yolo(tmp_path)
    records, issues = index_yolo(tmp_path / "images" / "train", 2, "train", decode=True)
    got = {(Path(i.file).name, i.line, i.severity): i.reason for i in issues}
    expect = {
        ("corrupt.jpg", None, "rejected"): "not a decodable image",
        ("zero.jpg", None, "rejected"): "zero-byte",
        ("notes.txt", None, "rejected"): "not an image file",
        ("fake.png", None, "rejected"): "not an image",
        ("labels.txt", 2, "rejected"): "NaN",
        ("labels.txt", 3, "rejected"): "zero or negative size",
        ("labels.txt", 4, "rejected"): "zero or negative size",
        ("labels.txt", 5, "warning"): "partly outside",
        ("labels.txt", 6, "rejected"): "entirely outside",
        ("labels.txt", 7, "rejected"): "unknown class id 7",
        ("labels.txt", 8, "warning"): "duplicate of line 1",
        ("labels.txt", 9, "rejected"): "expected 5 columns",
        ("labels.txt", 10, "rejected"): "non-numeric",
        ("labels.txt", 11, "rejected"): "unknown class id 1.5",
    }
    for k, reason in expect.items():
        assert k in got, f"missing issue {k}; got {sorted(got)}"
        assert reason in got[k], (k, got[k])
    assert len(issues) == len(expect)
    names = {Path(r.path).stem: r for r in records}
    assert set(names) == {"good", "labels", "bg"}
    assert len(names["good"].boxes) == 2 and len(names["bg"].boxes) == 0
    assert len(names["labels"].boxes) == 2  # line 1 and the clipped line 5
    np.testing.assert_allclose(names["labels"].boxes[1], [0.85, 0.4, 1.0, 0.6], atol=1e-6)


def make_coco(root: Path):
    imgs = root / "images"
    _img(imgs / "a.jpg")
    _img(imgs / "b.jpg")
    (imgs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(50))
    anns = [
        {"id": 1, "image_id": 1, "category_id": 5, "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 5, "bbox": [10, 10, 20, 20], "iscrowd": 0},  # duplicate
        {"id": 3, "image_id": 1, "category_id": 99, "bbox": [10, 10, 20, 20], "iscrowd": 0},  # unknown category
        {"id": 4, "image_id": 1, "category_id": 5, "bbox": [190, 10, 30, 20], "iscrowd": 0},  # clipped
        {"id": 5, "image_id": 1, "category_id": 5, "bbox": [300, 10, 30, 20], "iscrowd": 0},  # outside
        {"id": 6, "image_id": 1, "category_id": 5, "bbox": [10, 10, 0, 20], "iscrowd": 0},  # zero width
        {"id": 7, "image_id": 1, "category_id": 5, "bbox": [10, 10, 20], "iscrowd": 0},  # 3 numbers
        {"id": 8, "image_id": 2, "category_id": 7, "bbox": [0, 0, 50, 50], "iscrowd": 1},  # crowd
        {"id": 9, "image_id": 42, "category_id": 7, "bbox": [0, 0, 5, 5], "iscrowd": 0},  # unknown image
        {"id": 10, "image_id": 3, "category_id": 7, "bbox": [0, 0, 5, 5], "iscrowd": 0},
    ]
    images = [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
              {"id": 2, "file_name": "b.jpg", "width": 200, "height": 100},
              {"id": 3, "file_name": "broken.jpg", "width": 200, "height": 100},
              {"id": 4, "file_name": "missing.jpg", "width": 200, "height": 100}]
    cats = [{"id": 5, "name": "five"}, {"id": 7, "name": "seven"}]
    (root / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def test_coco_planted_defects(tmp_path):
    make_coco(tmp_path)
    records, issues, cat_ids, names = index_coco(tmp_path / "images", tmp_path / "ann.json", "val", decode=True)
    got = {(Path(i.file).name, i.ann_id, i.severity): i.reason for i in issues}
    expect = {
        ("ann.json", 2, "warning"): "duplicate of annotation 1",
        ("ann.json", 3, "rejected"): "unknown category_id 99",
        ("ann.json", 4, "warning"): "partly outside",
        ("ann.json", 5, "rejected"): "entirely outside",
        ("ann.json", 6, "rejected"): "zero or negative size",
        ("ann.json", 7, "rejected"): "bbox must be 4 numbers",
        ("ann.json", 9, "rejected"): "unknown image_id 42",
        ("broken.jpg", None, "rejected"): "not a decodable image",
        ("missing.jpg", None, "rejected"): "missing image file",
    }
    for k, reason in expect.items():
        assert k in got, f"missing issue {k}; got {sorted(got)}"
        assert reason in got[k], (k, got[k])
    assert len(issues) == len(expect)
    assert [r.image_id for r in records] == [1, 2]
    assert len(records[0].boxes) == 2 and records[0].boxes[1].tolist() == [190, 10, 200, 30]
    assert len(records[1].boxes) == 0 and len(records[1].crowd) == 1
    assert cat_ids == [5, 7] and names == ["five", "seven"]


def test_check_data_tool(tmp_path):
    make_yolo(tmp_path / "ds")
    (tmp_path / "d.yaml").write_text(f"path: {tmp_path / 'ds'}\ntrain: images/train\nnames: [a, b]\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "check_data.py"), "--data", str(tmp_path / "d.yaml"),
                        "--out", str(out), "--show", "2"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "rejected: " in r.stdout and "labels.txt:6: box entirely outside" in r.stdout
    rep = json.loads((out / "labels_report.json").read_text())
    assert rep["rejected"] == 12 and rep["warnings"] == 2 and rep["counts"]["train"]["images"] == 3
    assert len(list(out.glob("train_*.jpg"))) == 2
    (tmp_path / "ok.yaml").write_text(f"path: {tmp_path / 'ds'}\ntrain: images/nothing\nnames: [a]\n")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "check_data.py"), "--data", str(tmp_path / "ok.yaml"),
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "not found" in r.stderr
