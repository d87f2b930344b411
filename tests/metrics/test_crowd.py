"""Crowd metrics: MR-2 against a hand-computed case, AP interpolation, overlap buckets through COCOeval."""
import math

import numpy as np
import pytest

from detector.metrics.coco_eval import coco_from_dict, evaluate_arrays
from detector.metrics.crowd import coco_ap, log_average_miss_rate


def test_mr2_hand_computed():
    # 2 images, 4 ground-truth boxes; detections by score: hit, miss, hit, miss.
    # operating points (FPPI, miss rate): (0, 1) start, (0, .75), (.5, .75), (.5, .5), (1, .5)
    # refs 10^-2 .. 10^-0.5 (7 points) read FPPI 0 -> .75; 10^-0.25 and 10^0 read FPPI .5 -> .5
    mr = log_average_miss_rate(np.array([True, False, True, False]), n_gt=4, n_images=2)
    assert mr == pytest.approx(math.exp((7 * math.log(0.75) + 2 * math.log(0.5)) / 9))


def test_mr2_edges():
    assert log_average_miss_rate(np.array([True, True]), 2, 1) == pytest.approx(1e-10)  # all found, no FP
    assert log_average_miss_rate(np.zeros(0, bool), 3, 2) == pytest.approx(1.0)  # nothing found
    # a false positive first on 1 image: FPPI jumps to 1 before any hit, so every ref below 1 reads miss 1
    mr = log_average_miss_rate(np.array([False, True]), 1, 1)
    assert mr == pytest.approx(math.exp(8 * math.log(1.0) / 9 + math.log(1e-10) / 9))


def test_coco_ap_interpolation():
    assert coco_ap(np.array([True, True]), 2) == pytest.approx(1.0)
    assert coco_ap(np.array([False, True]), 1) == pytest.approx(0.5)
    assert coco_ap(np.array([True, False]), 2) == pytest.approx(51 / 101)  # recall 0.5 at precision 1
    assert math.isnan(coco_ap(np.array([True]), 0))


def _gt():
    # one image: A and B overlap at IoU 0.6 (same class), C is isolated; D (other class) overlaps A
    anns = [dict(id=1, bbox=[0, 0, 100, 200]), dict(id=2, bbox=[25, 0, 100, 200]), dict(id=3, bbox=[400, 0, 50, 100]),
            dict(id=4, bbox=[10, 0, 100, 200], category_id=2)]
    for a in anns:
        a.setdefault("category_id", 1)
        a.update(image_id=1, iscrowd=0, area=a["bbox"][2] * a["bbox"][3])
    return coco_from_dict({"images": [{"id": 1, "width": 640, "height": 480}], "annotations": anns,
                           "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}]})


def test_overlap_buckets_and_mr2_through_cocoeval():
    gt = _gt()
    # found: C (isolated, 0.9), A (crowded, 0.8); B missed; one false positive (0.7); D found (other class)
    dets = np.array([[1, 400, 0, 50, 100, 0.9, 1], [1, 0, 0, 100, 200, 0.8, 1], [1, 300, 300, 50, 50, 0.7, 1],
                     [1, 10, 0, 100, 200, 0.95, 2]], np.float64)
    m = evaluate_arrays(gt, dets, [1], [1, 2], ["person", "dog"], only_cat_ids=[1])
    # B/A IoU = 75*200 / (2*20000 - 15000) = 0.6: both in 0.5-0.7; the other class (dog) is not a neighbour
    assert m["gt[<0.3]"] == 1 and m["gt[0.5-0.7]"] == 2 and m["gt[>=0.7]"] == 0
    assert m["recall50[<0.3]"] == pytest.approx(1.0) and m["recall50[0.5-0.7]"] == pytest.approx(0.5)
    assert math.isnan(m["recall50[>=0.7]"])
    # bucket 0.5-0.7: detections A (hit), FP (0.7) in score order; C's detection ignored -> [T, F], 2 gt
    assert m["AP50[0.5-0.7]"] == pytest.approx(51 / 101)
    assert m["crowded_AP50"] == pytest.approx(51 / 101) and m["crowded_recall50"] == pytest.approx(0.5)
    # bucket <0.3: C (hit) first, A's detection ignored, FP after: AP 1
    assert m["AP50[<0.3]"] == pytest.approx(1.0)
    # single class scored: MR-2 over 1 image, 3 gt, detections [T, T, F]: every ref < 1 reads miss 1/3,
    # ref 1 (FPPI 1 reached) reads 1/3 as well
    assert m["MR-2"] == pytest.approx(1 / 3)


def test_mr2_nan_for_several_classes():
    gt = _gt()
    dets = np.array([[1, 400, 0, 50, 100, 0.9, 1], [1, 10, 0, 100, 200, 0.95, 2]], np.float64)
    m = evaluate_arrays(gt, dets, [1], [1, 2], ["person", "dog"])
    assert math.isnan(m["MR-2"])
    assert m["gt[<0.3]"] == 2  # C and the lone dog
