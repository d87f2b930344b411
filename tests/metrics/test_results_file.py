"""Results files of other tools: Ultralytics' conventions for YOLO-txt splits, file_name matching,
rejected rows, unknown images and the 0- vs 1-based category mix-up."""
import json
import math

import cv2
import numpy as np
import pytest

from detector.data import index_split, load_data_config
from detector.eval import ValConfig, evaluate
from detector.metrics.results_file import read_results


@pytest.fixture
def yolo_split(tmp_path):
    """Three images: two with numeric stems, one not; two classes."""
    (tmp_path / "images" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    boxes = {"000000000042": [(0, 0.5, 0.5, 0.4, 0.4)], "7": [(1, 0.3, 0.3, 0.2, 0.2)], "street": [(1, 0.6, 0.4, 0.3, 0.5)]}
    for stem, bs in boxes.items():
        cv2.imwrite(str(tmp_path / "images" / "val" / f"{stem}.jpg"), np.full((80, 100, 3), 127, np.uint8))
        (tmp_path / "labels" / "val" / f"{stem}.txt").write_text("".join(f"{c} {x} {y} {w} {h}\n" for c, x, y, w, h in bs))
    y = tmp_path / "d.yaml"
    y.write_text(f"path: {tmp_path}\nval: images/val\nnames: [a, b]\n")
    return y, boxes


def _ultralytics_rows(boxes, cat_base=1, key="image_id"):
    """What Ultralytics writes: image id int(stem) or the stem, category id class + 1, pixel xywh."""
    rows = []
    for stem, bs in boxes.items():
        for c, x, y, w, h in bs:
            iid = int(stem) if stem.isnumeric() else stem
            ident = {"image_id": iid} if key == "image_id" else {"file_name": f"{stem}.jpg", "image_id": -5}
            rows.append({**ident, "category_id": c + cat_base, "score": 0.9,
                         "bbox": [(x - w / 2) * 100, (y - h / 2) * 80, w * 100, h * 80]})
    return rows


def _score(tmp_path, data, rows, **kw):
    p = tmp_path / "pred.json"
    p.write_text(json.dumps(rows))
    return evaluate(ValConfig(data=str(data), pred=str(p), plots=False, **kw), tmp_path / "out")


@pytest.mark.parametrize("key", ["image_id", "file_name"])
def test_ultralytics_convention_scores_perfectly(tmp_path, yolo_split, key):
    data, boxes = yolo_split
    idx = index_split(load_data_config(data), "val")
    assert idx.cat_ids == [1, 2]  # class + 1, as Ultralytics writes
    m = _score(tmp_path, data, _ultralytics_rows(boxes, key=key))
    assert m["mAP50-95"] == pytest.approx(1.0) and m["rows_rejected"] == 0


def test_numeric_stems_become_image_ids(tmp_path, yolo_split):
    data, _ = yolo_split
    ids = sorted(r.image_id for r in index_split(load_data_config(data), "val").records)
    assert ids == [0, 1, 2]  # one stem is not a number: positions
    for p in (data.parent / "images" / "val").glob("street.*"):
        p.rename(p.with_name("99.jpg"))
    ids = sorted(r.image_id for r in index_split(load_data_config(data), "val").records)
    assert ids == [7, 42, 99]


def test_zero_based_categories_are_refused_with_the_offset(tmp_path, yolo_split):
    data, boxes = yolo_split
    with pytest.raises(ValueError, match=r"category ids 0 are not in the split.*offset of \+1.*--cat-offset \+1"):
        _score(tmp_path, data, _ultralytics_rows(boxes, cat_base=0))
    m = _score(tmp_path, data, _ultralytics_rows(boxes, cat_base=0), cat_offset=1)
    assert m["mAP50-95"] == pytest.approx(1.0) and "shifted by +1" in m["note"]


def test_nan_rows_are_rejected_not_scored_perfect(tmp_path, yolo_split):
    data, boxes = yolo_split
    rows = _ultralytics_rows(boxes)
    bad = [dict(rows[0], bbox=[float("nan")] * 4), dict(rows[1], score=float("nan")), dict(rows[2], bbox=[1, 2, 3])]
    m = _score(tmp_path, data, bad + rows[:1])
    assert m["rows_rejected"] == 3 and "3 of 4 rows rejected" in m["note"]
    assert m["mAP50-95"] < 0.6  # two of three images have no valid prediction
    with pytest.raises(ValueError, match="no usable row"):
        _score(tmp_path, data, bad)


def test_unknown_images_are_named(tmp_path, yolo_split):
    data, boxes = yolo_split
    rows = _ultralytics_rows(boxes) + [dict(_ultralytics_rows(boxes)[0], image_id=123456)]
    m = _score(tmp_path, data, rows)
    assert m["rows_unknown_image"] == 1 and "123456" in m["note"] and m["mAP50-95"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no row matches an image"):
        _score(tmp_path, data, [dict(r, image_id=555) for r in rows])


def test_not_a_results_list(tmp_path, yolo_split):
    data, _ = yolo_split
    with pytest.raises(ValueError, match="annotations file"):
        _score(tmp_path, data, {"images": [], "annotations": [], "categories": []})
    p = tmp_path / "x.json"
    p.write_text("{broken")
    with pytest.raises(ValueError, match="cannot read predictions json"):
        read_results(p, index_split(load_data_config(data), "val"))


def test_own_predictions_json_round_trip_is_ultralytics_compatible(tmp_path, yolo_split):
    """Our writer uses the same conventions: stem ids and class + 1, plus file_name."""
    from detector.metrics.coco_eval import COCOEvaluator
    import torch

    data, boxes = yolo_split
    idx = index_split(load_data_config(data), "val")
    ev = COCOEvaluator.from_split(idx)
    for r in idx.records:
        ev.update([torch.tensor([[10.0, 10, 50, 40, 0.8, 1]])], [{"image_id": r.image_id, "orig_shape": (80, 100),
                                                                 "ratio": (1.0, 1.0), "pad": (0.0, 0.0)}])
    rows = ev.predictions_json()
    assert sorted(map(str, (p["image_id"] for p in rows))) == ["42", "7", "street"]
    assert {p["category_id"] for p in rows} == {2} and all(p["file_name"].endswith(".jpg") for p in rows)
    assert not any(math.isnan(v) for p in rows for v in p["bbox"])


def test_predicted_density_round_trips_through_our_results_file(tmp_path, yolo_split):
    """Our predictions.json carries each box's density; scoring the file gives the evaluator's figures."""
    from detector.metrics.coco_eval import COCOEvaluator
    import torch

    data, _ = yolo_split
    idx = index_split(load_data_config(data), "val")
    ev = COCOEvaluator.from_split(idx)
    meta = {"orig_shape": (80, 100), "ratio": (1.0, 1.0), "pad": (0.0, 0.0)}
    for r in idx.records:  # the image with stem 42 has a class-0 box at (30, 24, 70, 56)
        det = [[30.0, 24, 70, 56, 0.9, 0, 0.35], [0.0, 0, 5, 5, 0.5, 1, 0.8]]
        ev.update([torch.tensor(det)], [{"image_id": r.image_id, **meta}])
    rows = ev.predictions_json()
    assert sorted({p["density"] for p in rows}) == [pytest.approx(0.35), pytest.approx(0.8)]
    assert read_results(_write(tmp_path, rows), idx).densities.tolist() == [p["density"] for p in rows]
    in_memory = ev.compute()
    assert in_memory["density_other"] == pytest.approx(0.35) and math.isnan(in_memory["density_crowded"])
    scored = _score(tmp_path, data, rows)
    assert scored["density_other"] == pytest.approx(0.35) and scored["mAP50"] == pytest.approx(in_memory["mAP50"])
    no_density = _score(tmp_path, data, [{k: v for k, v in p.items() if k != "density"} for p in rows])
    assert "density_other" not in no_density  # other tools' files have no density: no figure, not a zero


def _write(tmp_path, rows):
    p = tmp_path / "rows.json"
    p.write_text(json.dumps(rows))
    return p
