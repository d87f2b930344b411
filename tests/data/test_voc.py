"""Pascal VOC XML datasets: a small VOC tree built here; boxes, difficult objects as ignore regions,
names collected from the XML, label checks with file and object index, evaluation through pycocotools."""
import json

import cv2
import numpy as np
import pytest

from detector.data import DetectionDataset, index_split, load_data_config
from detector.eval import ValConfig, evaluate


def _xml(fn, w, h, objects, size=True):
    objs = "".join(f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                   f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for n, d, b in objects)
    sz = f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>" if size else ""
    return f"<annotation><filename>{fn}</filename>{sz}{objs}</annotation>"


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "VOC"
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / d).mkdir(parents=True)
    imgs = {"2008_000001": [("dog", 0, (11, 21, 60, 70)), ("person", 1, (31, 11, 50, 40))],
            "2008_000002": [("person", 0, (1, 1, 100, 80)), ("cat", 0, (5, 5, 30, 30))],
            "2008_000003": [("dog", 0, (90, 10, 140, 50)), ("dog", 0, (200, 10, 220, 30))],
            "2008_000004": [("dog", 0, ("x", 1, 2, 3))]}
    for stem, objs in imgs.items():
        cv2.imwrite(str(root / "JPEGImages" / f"{stem}.jpg"), np.full((80, 120, 3), 90, np.uint8))
        (root / "Annotations" / f"{stem}.xml").write_text(_xml(f"{stem}.jpg", 120, 80, objs))
    cv2.imwrite(str(root / "JPEGImages" / "2008_000005.jpg"), np.zeros((80, 120, 3), np.uint8))
    (root / "Annotations" / "2008_000005.xml").write_text("<annotation><object>")  # malformed
    cv2.imwrite(str(root / "JPEGImages" / "2008_000006.jpg"), np.zeros((80, 120, 3), np.uint8))
    (root / "Annotations" / "2008_000006.xml").write_text(_xml("2008_000006.jpg", 0, 0, [], size=False))
    (root / "ImageSets" / "Main" / "train.txt").write_text("2008_000001\n2008_000002\n")
    (root / "ImageSets" / "Main" / "val.txt").write_text("2008_000003\n2008_000004\n2008_000005\n2008_000006\n")
    y = tmp_path / "voc.yaml"
    y.write_text(f"format: voc\npath: {root}\ntrain: ImageSets/Main/train.txt\nval: ImageSets/Main/val.txt\n")
    return y


def test_names_boxes_and_difficult(voc, capsys):
    cfg = load_data_config(voc)
    idx = index_split(cfg, "train")
    assert idx.names == ["cat", "dog", "person"] and idx.cat_ids == [1, 2, 3]  # collected, sorted
    assert "3 classes collected from the XML files" in capsys.readouterr().out
    r = {p.path.split("/")[-1]: p for p in idx.records}["2008_000001.jpg"]
    assert r.boxes.tolist() == [[10.0, 20.0, 60.0, 70.0]] and r.classes.tolist() == [1]  # 1-based -> 0-based
    assert r.crowd.tolist() == [[30.0, 10.0, 50.0, 40.0]] and r.crowd_classes.tolist() == [2]  # difficult person
    ds = DetectionDataset(idx.records, 64)
    k = [p.path.split("/")[-1] for p in ds.records].index("2008_000001.jpg")
    sample = ds[k]  # the ignore region reaches training, mapped as its image was
    (rx, ry), (pl, pt) = sample["meta"]["ratio"], sample["meta"]["pad"]
    np.testing.assert_allclose(sample["crowd"].numpy(), [[30 * rx + pl, 10 * ry + pt, 50 * rx + pl, 40 * ry + pt]],
                               atol=1e-3)


def test_label_checks_name_file_and_object(voc):
    idx = index_split(load_data_config(voc), "val")
    text = "\n".join(map(str, idx.issues))
    assert "2008_000005.xml: malformed XML" in text
    assert "2008_000006.xml: missing or invalid <size>" in text
    assert "2008_000003.xml: object 1 (dog): box entirely outside the 120x80 image" in text
    assert "2008_000003.xml: object 0 (dog): box partly outside" in text
    assert "2008_000004.xml: object 0 (dog): <bndbox> needs numeric" in text
    assert [r.path.split("/")[-1] for r in idx.records] == ["2008_000003.jpg", "2008_000004.jpg"]


def test_unknown_class_with_given_names(voc):
    voc.write_text(voc.read_text() + "names: [dog, person]\n")
    idx = index_split(load_data_config(voc), "train")
    assert any("object 1 (cat): unknown class 'cat'" in str(i) for i in idx.issues)


def test_evaluation_ignores_difficult_objects(voc, tmp_path):
    """Ground-truth boxes as predictions score 1.0; a detection on the difficult person is not a false positive."""
    idx = index_split(load_data_config(voc), "train")
    rows = []
    for r in idx.records:
        stem = r.path.split("/")[-1][:-4]
        for b, c in zip(r.boxes, r.classes):
            rows.append({"image_id": stem, "category_id": int(c) + 1, "score": 0.9,
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    rows.append({"image_id": "2008_000001", "category_id": 3, "score": 0.95, "bbox": [30, 10, 20, 30]})
    p = tmp_path / "pred.json"
    p.write_text(json.dumps(rows))
    voc.write_text(voc.read_text().replace("val: ImageSets/Main/val.txt", "val: ImageSets/Main/train.txt"))
    m = evaluate(ValConfig(data=str(voc), pred=str(p), plots=False), tmp_path / "out")
    assert m["mAP50-95"] == pytest.approx(1.0)


def test_check_data_tool_on_voc(voc, tmp_path, capsys):
    import sys

    from ..conftest import ROOT
    sys.path.insert(0, str(ROOT / "tools"))
    import check_data

    assert check_data.main(["--data", str(voc), "--out", str(tmp_path / "chk")]) == 1  # val has rejections
    assert "malformed XML" in capsys.readouterr().out
    assert json.loads((tmp_path / "chk" / "labels_report.json").read_text())["rejected"] >= 3


def test_classes_subset_leaves_other_objects_out(voc):
    voc.write_text(voc.read_text() + "names: [cat, dog, person]\nclasses: [dog]\n")
    idx = index_split(load_data_config(voc), "train")
    assert idx.names == ["dog"] and all(set(r.classes) <= {0} for r in idx.records)
    text = "\n".join(map(str, idx.issues))
    assert "3 objects of other classes left out" in text and "unknown class" not in text  # 2 persons, 1 cat
