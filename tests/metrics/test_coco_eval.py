"""The evaluator against pycocotools called directly, on the real-image fixture."""
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detector.data.build import SplitIndex
from detector.data.coco_index import index_coco
from detector.metrics.coco_eval import STAT_KEYS, COCOEvaluator, coco_from_dict, evaluate_arrays

from ..conftest import CFG_DIR, ROOT, SHARED

FIX = ROOT / "tests" / "fixtures" / "coco_mini"
ANN = FIX / "annotations" / "instances.json"


def direct_stats(results: list[dict]) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ANN))
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def split():
    records, issues, cat_ids, names = index_coco(FIX / "images" / "train2017", ANN, "val")
    return SplitIndex("val", "coco", records, issues, names, cat_ids, str(ANN))


def identity_meta(rec):
    return {"image_id": rec.image_id, "orig_shape": (rec.height, rec.width), "ratio": (1.0, 1.0), "pad": (0.0, 0.0)}


def feed(ev, idx, shift=(0.0, 0.0), score=1.0):
    for r in idx.records:
        b = torch.tensor(r.boxes) + torch.tensor([shift[0], shift[1], shift[0], shift[1]])
        d = torch.cat([b, torch.full((len(b), 1), score), torch.tensor(r.classes, dtype=torch.float)[:, None]], 1)
        ev.update([d], [identity_meta(r)])


def test_ground_truth_as_predictions_gives_ap_one():
    idx = split()
    ev = COCOEvaluator.from_split(idx)
    feed(ev, idx)
    m = ev.compute()
    assert m["mAP50-95"] == pytest.approx(1.0) and m["mAP50"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(1.0) and m["precision"] == pytest.approx(1.0)
    assert all(v["AP50-95"] == pytest.approx(1.0) for v in m["per_class"].values())


@pytest.mark.parametrize("shift", [(3.0, 0.0), (6.0, 4.0), (15.0, -9.0)])
def test_shifted_boxes_equal_pycocotools(shift):
    idx = split()
    ev = COCOEvaluator.from_split(idx)
    feed(ev, idx, shift)
    m = ev.compute()
    direct = direct_stats(ev.predictions_json())
    for k, v in zip(STAT_KEYS, direct):
        assert m[k] == pytest.approx(max(v, 0) if v != -1 else -1, abs=1e-12), k
    assert 0 < m["mAP50-95"] < 1


def test_absent_categories_are_skipped_without_changing_any_number():
    """Detections of classes with no ground truth in the split: COCOeval scores those classes -1,
    so the evaluator leaves them out; every number must equal a full pycocotools run."""
    from detector.metrics.coco_eval import evaluate_arrays

    idx = split()
    ev = COCOEvaluator.from_split(idx)
    feed(ev, idx, (4.0, 2.0), score=0.9)
    present = {int(c) for r in idx.records for c in r.classes}
    absent = [c for c in range(len(idx.cat_ids)) if c not in present]
    g = torch.Generator().manual_seed(0)
    for r in idx.records:  # confident false positives of absent classes, overlapping real objects
        b = torch.tensor(r.boxes[:3]) + torch.rand(min(3, len(r.boxes)), 4, generator=g) * 5
        cls = torch.tensor(absent[:len(b)], dtype=torch.float)[:, None]
        ev.update([torch.cat([b, torch.rand(len(b), 1, generator=g), cls], 1)], [identity_meta(r)])
    m = ev.compute()
    direct = direct_stats(ev.predictions_json())
    for k, v in zip(STAT_KEYS, direct):
        assert m[k] == pytest.approx(max(v, 0) if v != -1 else -1, abs=1e-12), k
    full = evaluate_arrays(ev.ground_truth(), np.concatenate(ev.rows), sorted(set(ev.image_ids)), ev.cat_ids,
                           ev.names, only_cat_ids=list(ev.cat_ids))
    for k in ("precision", "recall", "f1", "recall50"):
        assert m[k] == pytest.approx(full[k], abs=1e-12), k
    assert m["per_class"].keys() == full["per_class"].keys()
    for c, v in full["per_class"].items():  # the evaluator's backend (auto) may sum in another order: 1e-16
        assert m["per_class"][c] == pytest.approx(v, abs=1e-12), c


def test_crowded_recall_counts_only_the_scored_categories():
    """Two overlapping persons (IoU 0.67) and two overlapping cars: scoring persons only (a data
    config's `classes:` subset) must not count the cars as missed crowded boxes."""
    gt = coco_from_dict({
        "images": [{"id": 1, "width": 400, "height": 400, "file_name": "a.jpg"}],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 1e4, "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [20, 0, 100, 100], "area": 1e4, "iscrowd": 0},
            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [300, 300, 50, 50], "area": 2500, "iscrowd": 0},
            {"id": 20, "image_id": 1, "category_id": 3, "bbox": [200, 0, 50, 50], "area": 2500, "iscrowd": 0},
            {"id": 21, "image_id": 1, "category_id": 3, "bbox": [210, 0, 50, 50], "area": 2500, "iscrowd": 0}]})
    # both crowded persons found, the isolated person and the cars missed
    dets = np.array([[1, 0, 0, 100, 100, 0.9, 1], [1, 20, 0, 100, 100, 0.8, 1]], np.float64)
    persons = evaluate_arrays(gt, dets, None, [1, 3], ["person", "car"], only_cat_ids=[1])
    assert persons["crowded_gt"] == 2 and persons["crowded_recall50"] == 1.0
    both = evaluate_arrays(gt, dets, None, [1, 3], ["person", "car"])
    assert both["crowded_gt"] == 4 and both["crowded_recall50"] == 0.5
    assert "density_crowded" not in persons  # no densities given: no calibration figures


def test_density_calibration_reads_the_matched_detections_density():
    gt = coco_from_dict({
        "images": [{"id": 1, "width": 400, "height": 400, "file_name": "a.jpg"}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 1e4, "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [20, 0, 100, 100], "area": 1e4, "iscrowd": 0},
            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [300, 300, 50, 50], "area": 2500, "iscrowd": 0}]})
    dets = np.array([[1, 0, 0, 100, 100, 0.9, 1], [1, 20, 0, 100, 100, 0.8, 1], [1, 300, 300, 50, 50, 0.7, 1],
                     [1, 150, 150, 30, 30, 0.6, 1]], np.float64)  # the last matches nothing
    m = evaluate_arrays(gt, dets, None, [1], ["person"], densities=np.array([0.6, 0.4, 0.1, 0.9]))
    assert m["density_crowded"] == pytest.approx(0.5) and m["density_other"] == pytest.approx(0.1)
    m = evaluate_arrays(gt, dets, None, [1], ["person"], densities=np.array([0.6, np.nan, np.nan, 0.9]))
    assert m["density_crowded"] == pytest.approx(0.6) and np.isnan(m["density_other"])


def test_category_ids_round_trip():
    idx = split()
    ev = COCOEvaluator.from_split(idx)
    rec = next(r for r in idx.records if Path(r.path).name == "000000000208.jpg")
    assert idx.names[79] == "toothbrush" and idx.cat_ids[79] == 90
    ev.update([torch.tensor([[10.0, 10.0, 50.0, 50.0, 0.9, 79.0]])], [identity_meta(rec)])
    assert ev.predictions_json()[0]["category_id"] == 90


def test_mapping_back_through_letterbox_meta():
    idx = split()
    ev = COCOEvaluator.from_split(idx)
    rec = idx.records[0]
    m = {"image_id": rec.image_id, "orig_shape": (rec.height, rec.width), "ratio": (0.5, 0.5), "pad": (0.0, 53.0)}
    b = torch.tensor(rec.boxes) * 0.5 + torch.tensor([0.0, 53.0, 0.0, 53.0])
    ev.update([torch.cat([b, torch.ones(len(b), 1), torch.tensor(rec.classes)[:, None].float()], 1)], [m])
    got = np.array([p["bbox"] for p in ev.predictions_json()])
    want = np.concatenate([rec.boxes[:, :2], rec.boxes[:, 2:] - rec.boxes[:, :2]], 1)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_no_predictions_and_crowd_only_and_empty():
    idx = split()
    ev = COCOEvaluator.from_split(idx)
    for r in idx.records:
        ev.update([torch.zeros(0, 6)], [identity_meta(r)])
    m = ev.compute()
    assert m["mAP50-95"] == 0.0 and "no predictions" in m["note"]
    # an image whose only annotation is a crowd box: predictions on it are neither TP nor FP
    crowd = {"images": [{"id": 1, "width": 100, "height": 100, "file_name": "a.jpg"}],
             "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "area": 2500,
                              "iscrowd": 1}],
             "categories": [{"id": 1, "name": "a"}]}
    from detector.metrics.coco_eval import coco_from_dict, evaluate_arrays
    gt = coco_from_dict(crowd)
    m = evaluate_arrays(gt, np.array([[1, 5, 5, 30, 30, 0.9, 1]], float), [1], [1], ["a"])
    assert m["mAP50-95"] == m["mAP50"] == -1.0 and m["per_class"] == {}  # nothing to find: -1, COCO's "absent"
    # beside a real object, the top-scored prediction on the crowd region costs nothing: AP stays 1
    crowd["images"].append({"id": 2, "width": 100, "height": 100, "file_name": "b.jpg"})
    crowd["annotations"].append({"id": 2, "image_id": 2, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600,
                                 "iscrowd": 0})
    m = evaluate_arrays(coco_from_dict(crowd), np.array([[1, 5, 5, 30, 30, 0.95, 1], [2, 10, 10, 40, 40, 0.9, 1]]),
                        [1, 2], [1], ["a"])
    assert m["mAP50-95"] == pytest.approx(1.0) and m["mAP50"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no images"):
        evaluate_arrays(gt, np.zeros((0, 7)), [], [1], ["a"])


def test_val_tool_matches_pycocotools_on_its_json(tmp_path):
    """tools/val.py's printed and written metrics equal pycocotools run on its predictions.json."""
    from detector import build_model
    from detector.checkpoint import save_checkpoint
    torch.manual_seed(0)
    model = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=80)
    with torch.no_grad():  # confident, varied boxes so that metrics are not all zero
        for cl in model.head.cls:
            cl[-1].bias.fill_(0.0)
    ck = tmp_path / "m.pt"
    names = split().names  # the checkpoint's classes must be the data's (names, not only their count)
    save_checkpoint(ck, {"model": model.state_dict(), "model_cfg": model.yaml, "names": names})
    data = tmp_path / "d.yaml"
    data.write_text(f"path: {FIX}\nval: {{images: images/train2017, annotations: annotations/instances.json}}\n")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "val.py"), "--weights", str(ck), "--data", str(data),
                        "--img", "320", "--batch", "4", "--workers", "0", "--project", str(tmp_path), "--name", "v"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "v"
    metrics = json.loads((out / "metrics.json").read_text())
    preds = json.loads((out / "predictions.json").read_text())
    assert len(preds) > 100
    direct = direct_stats(preds)
    for k, v in zip(STAT_KEYS, direct):
        assert metrics[k] == pytest.approx(max(v, 0.0) if v != -1 else -1.0, abs=1e-9), k
        assert f"{k:<12} {metrics[k]:>8.4f}" in r.stdout
    assert (out / "PR_curve.png").is_file() and (out / "confusion_matrix.png").is_file()
    assert "speed:" in r.stdout
    # --pred scores the same file without a model and gives the same numbers
    r2 = subprocess.run([sys.executable, str(ROOT / "tools" / "val.py"), "--pred", str(out / "predictions.json"),
                         "--data", str(data), "--project", str(tmp_path), "--name", "p"], capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr[-2000:]
    m2 = json.loads((tmp_path / "p" / "metrics.json").read_text())
    for k in STAT_KEYS:
        assert m2[k] == pytest.approx(metrics[k], abs=1e-12)


def test_val_tool_empty_split_is_a_clear_error(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "ann.json").write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    data = tmp_path / "d.yaml"
    data.write_text(f"path: {tmp_path}\nval: {{images: imgs, annotations: ann.json}}\n")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "val.py"), "--pred", str(tmp_path / "ann.json"),
                        "--data", str(data), "--project", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "no images to evaluate" in r.stderr


def jittered_predictions(gt: COCO, seed: int = 0) -> np.ndarray:
    """Detections [K, 7] made from real ground truth: two jittered copies of each box (one in five with a
    wrong class), random scores, plus background boxes: a realistic mix of hits, duplicates and misses."""
    rng = np.random.default_rng(seed)
    cats = sorted(gt.getCatIds())
    rows = []
    for a in gt.dataset["annotations"]:
        x, y, w, h = a["bbox"]
        for _ in range(2):
            j = rng.normal(0, 0.12, 4) * [w, h, w, h]
            c = a["category_id"] if rng.random() < 0.8 else cats[rng.integers(len(cats))]
            rows.append([a["image_id"], x + j[0], y + j[1], max(w + j[2], 1.0), max(h + j[3], 1.0), rng.random(), c])
    for i in gt.getImgIds():
        for _ in range(3):
            rows.append([i, *rng.uniform(0, 300, 2), *rng.uniform(5, 150, 2), rng.random() * 0.5,
                         cats[rng.integers(len(cats))]])
    return np.asarray(rows, np.float64)


@pytest.mark.parametrize("which", ["fixture", "coco_val493"])
def test_faster_backend_gives_pycocotools_stats(which):
    """faster-coco-eval (--coco-backend faster) gives every number pycocotools gives (the 12 COCO stats,
    recall50, per-class AP, P/R/F1, the crowd buckets, crowded recall and AP50, MR-2, density calibration) to
    1e-6, on real annotations with crowd regions (COCO val2017 when the shared data is there)."""
    pytest.importorskip("faster_coco_eval", reason="faster-coco-eval not installed (pip install -e '.[dev]')")
    if which == "fixture":
        ann = ROOT / "tests" / "fixtures" / "coco_mini" / "annotations" / "instances.json"
    else:
        ann = SHARED / "data" / "coco_val493" / "annotations" / "instances_val2017.json"
        if not ann.is_file():
            pytest.skip(f"shared data absent: {ann}")
    gt = coco_from_dict(json.loads(ann.read_text()))
    dets = jittered_predictions(gt)
    dens = np.random.default_rng(1).random(len(dets))
    cats = sorted(gt.getCatIds())
    names = [str(c) for c in cats]
    for only in (None, cats[:1]):  # all classes; one class (MR-2 is defined for single-class tasks)
        a = evaluate_arrays(gt, dets, None, cats, names, only, densities=dens)
        b = evaluate_arrays(gt, dets, None, cats, names, only, densities=dens, backend="faster")
        assert a["mAP50-95"] > 0.1 and (a["crowded_gt"] > 0 or which == "fixture")
        keys = [k for k, v in a.items() if isinstance(v, (int, float))]
        assert len(keys) > 30 and set(keys) <= set(b)
        for k in keys:
            assert b[k] == pytest.approx(a[k], abs=1e-6, nan_ok=True), k
        assert a["per_class"].keys() == b["per_class"].keys()
        for c in a["per_class"]:
            assert b["per_class"][c]["AP50-95"] == pytest.approx(a["per_class"][c]["AP50-95"], abs=1e-6)
    with pytest.raises(ValueError, match="backend"):
        evaluate_arrays(gt, dets, None, cats, names, backend="nope")
