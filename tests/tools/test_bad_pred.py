"""tools/val.py --pred with broken results files: never the silent 1.0 (NaN rows) or 0.0 (shifted
category ids); exit 2 with a sentence when the file cannot be scored."""
import json

import pytest

from .conftest import tool


@pytest.fixture
def gt_rows(tiny_data):
    """The val split's own ground truth as a perfect results file."""
    ann = json.loads((tiny_data.parent / "ds" / "annotations" / "instances_val.json").read_text())
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in ann["annotations"]]


def _val(tmp_path, data, rows, *extra):
    p = tmp_path / "pred.json"
    p.write_text(json.dumps(rows).replace("NaN", "NaN"))
    return tool("val").main(["--pred", str(p), "--data", str(data), "--project", str(tmp_path / "r"), "--name", "v",
                             "--exist-ok", *extra])


def test_perfect_file_scores_one(tmp_path, tiny_data, gt_rows, capsys):
    assert _val(tmp_path, tiny_data, gt_rows) == 0
    m = json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())
    assert m["mAP50-95"] == pytest.approx(1.0)
    # the crowd metrics are saved: every overlap bucket with ground truth is found whole
    b = m["overlap_buckets"]
    assert sum(v for k, v in b.items() if k.startswith("gt[")) == len(gt_rows)
    assert all(b[f"recall50[{k[3:-1]}]"] == pytest.approx(1.0) for k, v in b.items() if k.startswith("gt[") and v)
    assert "MR-2" in m  # NaN (several classes): the measure is single-class


@pytest.mark.parametrize("field,value", [("bbox", [float("nan")] * 4), ("score", float("nan")),
                                         ("bbox", [1.0, 2.0, float("nan"), 4.0])])
def test_nan_rows_are_not_a_perfect_score(tmp_path, tiny_data, gt_rows, capsys, field, value):
    rows = [dict(r, **{field: value}) for r in gt_rows]
    assert _val(tmp_path, tiny_data, rows) == 2  # every row rejected: nothing to score
    err = capsys.readouterr().err
    assert "no usable row" in err and ("NaN" in err or "finite" in err) and "Traceback" not in err
    half = [dict(r, **{field: value}) if k % 2 else r for k, r in enumerate(gt_rows)]
    assert _val(tmp_path, tiny_data, half) == 1  # scored, but some inputs were left out: named on stderr
    assert "rows rejected" in capsys.readouterr().err
    m = json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())
    assert m["mAP50-95"] < 0.9 and m["rows_rejected"] == len(gt_rows) // 2 and "rejected" in m["note"]


def test_shifted_category_ids_are_refused_with_the_offset(tmp_path, tiny_data, gt_rows, capsys):
    rows = [dict(r, category_id=r["category_id"] - 1) for r in gt_rows]  # 0-based
    assert _val(tmp_path, tiny_data, rows) == 2
    err = capsys.readouterr().err
    assert "category ids 0 are not in the split" in err and "--cat-offset +1" in err
    assert _val(tmp_path, tiny_data, rows, "--cat-offset", "1") == 0
    assert json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())["mAP50-95"] == pytest.approx(1.0)


@pytest.mark.parametrize("rows,expect", [
    ({"images": [], "annotations": []}, "annotations file"),
    ([{"image_id": 999999, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}], "no row matches an image"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}], "missing 'score'"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5], "score": 0.5}], "bbox must be 4 numbers"),
    ("not a list", "expected a COCO results list"),
])
def test_unusable_files_exit_2(tmp_path, tiny_data, capsys, rows, expect):
    assert _val(tmp_path, tiny_data, rows) == 2
    err = capsys.readouterr().err
    assert expect in err and "pred.json" in err and "Traceback" not in err


def _coco80(tmp_path):
    """A COCO-json split with COCO's 80 categories (ids 1..90 with gaps) and one box of each of 3 classes."""
    import cv2
    import numpy as np

    from detector.metrics.results_file import COCO91_IDS

    (tmp_path / "im").mkdir()
    cv2.imwrite(str(tmp_path / "im" / "1.jpg"), np.zeros((100, 200, 3), np.uint8))
    cats = [{"id": c, "name": f"class{k}"} for k, c in enumerate(COCO91_IDS)]
    anns = [{"id": k + 1, "image_id": 1, "category_id": COCO91_IDS[c], "iscrowd": 0, "bbox": [10 + 60 * k, 10, 40, 50],
             "area": 2000} for k, c in enumerate((0, 11, 40))]  # classes 0, 11 and 40: ids 1, 13 and 46
    (tmp_path / "ann.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "1.jpg", "width": 200,
                                                               "height": 100}], "annotations": anns,
                                                   "categories": cats}))
    y = tmp_path / "coco.yaml"
    y.write_text(f"path: {tmp_path}\nval: {{images: im, annotations: ann.json}}\n")
    return y, anns


def test_coco80_indices_get_the_cat_map_advice_not_an_offset(tmp_path, capsys):
    """Contiguous 1..80 ids on COCO's 91-id categories: an offset would name other classes (it used to
    be advised and scored right boxes 0.42); --cat-map coco80-1 maps them and scores 1.0."""
    data, anns = _coco80(tmp_path)
    rows = [{"image_id": 1, "category_id": c + 1, "bbox": a["bbox"], "score": 0.9}
            for a, c in zip(anns, (0, 11, 40))]  # 1-based class indices: 1, 12, 41
    assert _val(tmp_path, data, rows) == 2
    err = capsys.readouterr().err
    assert "--cat-map coco80-1" in err and "--cat-offset" not in err
    assert _val(tmp_path, data, rows, "--cat-map", "coco80-1") == 0
    assert json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())["mAP50-95"] == pytest.approx(1.0)
    zero = [dict(r, category_id=r["category_id"] - 1) for r in rows]
    assert _val(tmp_path, data, zero, "--cat-map", "coco80") == 0
    assert json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())["mAP50-95"] == pytest.approx(1.0)


def test_scores_outside_0_1_keep_the_ranking_and_p_r_on_ranks(tmp_path, tiny_data, gt_rows, capsys):
    rows = [dict(r, score=7.5 - 0.01 * k) for k, r in enumerate(gt_rows)]
    assert _val(tmp_path, tiny_data, rows) == 0
    m = json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())
    assert m["mAP50-95"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(1.0) and m["precision"] == pytest.approx(1.0)  # was R 0.45 for perfect boxes
    assert "not [0, 1]" in m["note"] and "ranks" in m["note"]


def test_permuted_class_ids_are_said_with_the_mapping(tmp_path, tiny_data, gt_rows, capsys):
    """Right boxes, classes in another order: mAP 0 is still the score, but the note says why."""
    cats = sorted({r["category_id"] for r in gt_rows})
    perm = {c: cats[(k + 1) % len(cats)] for k, c in enumerate(cats)}
    rows = [dict(r, category_id=perm[r["category_id"]]) for r in gt_rows]
    assert len(rows) >= 10
    assert _val(tmp_path, tiny_data, rows) == 0
    m = json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())
    assert m["mAP50-95"] == pytest.approx(0.0, abs=1e-6)
    assert "look permuted" in m["note"] and "->" in m["note"] and "look permuted" in capsys.readouterr().out
    assert _val(tmp_path, tiny_data, gt_rows) == 0  # the right classes: no such note
    assert "permuted" not in json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())["note"]


def test_a_results_file_over_the_old_value_cap_scores_beside_the_deep_one(tmp_path, tiny_data, gt_rows, capsys):
    """The honest case beside the hostile one: 100 k rows (1.3 M JSON values, over the 1 M cap the YAML
    guard once applied to JSON; COCO val2017 results at max_det 100 have 500 k) are scored, the perfect rows
    among them still at their full weight; a deeply nested file is refused with a sentence."""
    pad = [{"image_id": r["image_id"], "category_id": r["category_id"], "bbox": [0.0, 0.0, 1.0, 1.0], "score": 0.001}
           for r in gt_rows]
    rows = gt_rows + (pad * (100_000 // len(pad) + 1))[:100_000 - len(gt_rows)]
    assert _val(tmp_path, tiny_data, rows) == 0
    m = json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())
    assert m["rows_rejected"] == 0 and m["mAP50"] == pytest.approx(1.0)  # the tiny boxes rank below every hit
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    assert tool("val").main(["--pred", str(p), "--data", str(tiny_data), "--project", str(tmp_path / "r"), "--name",
                             "v2", "--exist-ok"]) == 2
    assert "nested too deeply" in capsys.readouterr().err
