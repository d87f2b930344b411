"""The data YAML's ``classes``: train and evaluate on some classes only, for COCO json and YOLO txt."""
import json

import cv2
import numpy as np
import pytest

from detector.config import ConfigError
from detector.data import index_split, load_data_config
from detector.eval import ValConfig, evaluate


def _subset_yaml(tiny_data, tmp_path, classes):
    y = tmp_path / "sub.yaml"
    y.write_text(tiny_data.read_text() + f"classes: {classes}\n")
    return y


def test_coco_subset_keeps_names_ids_and_boxes(tiny_data, tmp_path):
    full = index_split(load_data_config(tiny_data), "val")
    sub = index_split(load_data_config(_subset_yaml(tiny_data, tmp_path, ["circle", "star"])), "val")
    assert sub.names == ["circle", "star"] and sub.cat_ids == [1, 4] and sub.subset
    n_full = sum(int(np.isin(r.classes, [0, 3]).sum()) for r in full.records)
    assert sum(len(r.classes) for r in sub.records) == n_full and all(set(r.classes) <= {0, 1} for r in sub.records)
    left = sum(len(r.classes) for r in full.records) - n_full
    assert any(i.severity == "info" and i.reason.startswith(f"{left} annotations of other categories") for i in sub.issues)


def test_coco_subset_scores_only_its_classes(tiny_data, tmp_path):
    """A perfect results file for every class scores 1.0 on the subset, its other rows left out with a note."""
    ann = json.loads((tiny_data.parent / "ds" / "annotations" / "instances_val.json").read_text())
    rows = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in ann["annotations"]]
    p = tmp_path / "pred.json"
    p.write_text(json.dumps(rows))
    y = _subset_yaml(tiny_data, tmp_path, ["square"])
    m = evaluate(ValConfig(data=str(y), pred=str(p), plots=False), tmp_path / "out")
    assert m["mAP50-95"] == pytest.approx(1.0) and list(m["per_class"]) == ["square"]
    assert "outside the data YAML's 'classes' left out" in m["note"]


def test_yolo_subset_remaps_classes(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "1.jpg"), np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "labels" / "1.txt").write_text("0 0.5 0.5 0.2 0.2\n2 0.3 0.3 0.2 0.2\n1 0.7 0.7 0.2 0.2\n")
    y = tmp_path / "d.yaml"
    y.write_text(f"path: {tmp_path}\nval: images\nnames: [a, b, c]\nclasses: [c, a]\n")
    idx = index_split(load_data_config(y), "val")
    assert idx.names == ["a", "c"] and idx.cat_ids == [1, 2]
    assert sorted(idx.records[0].classes.tolist()) == [0, 1]
    y.write_text(f"path: {tmp_path}\nval: images\nnames: [a, b, c]\nclasses: [d]\n")
    with pytest.raises(ValueError, match=r"'classes' names \['d'\] are not in its names"):
        index_split(load_data_config(y), "val")
    y.write_text(f"path: {tmp_path}\nval: images\nnames: [a, b, c]\nclasses: c\n")
    with pytest.raises(ConfigError, match="classes must be a non-empty list"):
        load_data_config(y)
