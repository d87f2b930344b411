"""match_detections: two NMS results compared up to the order of near-tied scores."""
import torch

from detector.export.check import match_detections


def dets(rows):
    """rows of (x1, y1, x2, y2, score, class) -> Tensor[N, 7] (density 0)."""
    return torch.tensor([[*r, 0.0] for r in rows], dtype=torch.float32)


def chain(ys, scores):
    """32 px boxes of class 0 at x 0, y from ys: neighbours 8 px apart overlap at IoU 0.6."""
    return [(0.0, y, 32.0, y + 32.0, s, 0.0) for y, s in zip(ys, scores)]


def test_identical_results_are_all_the_same():
    a = dets(chain([0, 100, 200], [0.9, 0.8, 0.7]))
    m = match_detections(a, a.clone(), iou_thres=0.5)
    assert sorted(m["same"]) == [(0, 0), (1, 1), (2, 2)] and m["ties"] == 0 and m["other"] == 0


def test_a_chain_of_near_ties_kept_on_alternate_boxes_is_explained():
    # a flat region: boxes at y 0, 8, 16, ... with scores equal to 1e-7; one side kept 0, 16, 32, the other 8, 24,
    # and a distinct box at 40 freed on the second side at the end of its chain (it overlaps 32 on the first)
    a = dets(chain([0, 16, 32], [0.6400001, 0.6400002, 0.6400001]) + [(100.0, 100.0, 150.0, 150.0, 0.9, 1.0)])
    b = dets(chain([8, 24, 40], [0.6400002, 0.6400000, 0.3]) + [(100.0, 100.0, 150.0, 150.0, 0.9, 1.0)])
    m = match_detections(a, b, iou_thres=0.5)
    assert m["same"] == [(3, 3)] and m["ties"] == 6 and m["other"] == 0


def test_a_swap_of_distinct_scores_is_a_real_difference():
    # one side kept the lower-scored of two overlapping boxes: not a tie
    a = dets(chain([0], [0.9]))
    b = dets(chain([8], [0.5]))
    m = match_detections(a, b, iou_thres=0.5)
    assert m["same"] == [] and m["ties"] == 0 and m["other"] == 2


def test_an_extra_or_missing_box_is_a_real_difference():
    a = dets(chain([0, 100], [0.9, 0.8]))
    extra = match_detections(a, a[:1], iou_thres=0.5)
    assert extra["same"] == [(0, 0)] and extra["ties"] == 0 and extra["other"] == 1
    # an unsuppressed neighbour (IoU 0.6 > 0.5) with a distinct score: NMS failed on one side
    b = dets(chain([0, 8], [0.9, 0.85]))
    m = match_detections(b, a[:1], iou_thres=0.5)
    assert m["same"] == [(0, 0)] and m["other"] == 1 and m["ties"] == 0
    # a different class is not the same detection; a box shifted by 1 px is not either, but with the same score
    # it is the other of two overlapping near-tied boxes
    assert match_detections(a[:1], dets([(0.0, 0.0, 32.0, 32.0, 0.9, 2.0)]), 0.5)["other"] == 2
    shifted = match_detections(a[:1], dets([(0.0, 1.0, 32.0, 33.0, 0.9, 0.0)]), 0.5)
    assert shifted["same"] == [] and shifted["ties"] == 2 and shifted["other"] == 0


def test_empty_sides():
    a = dets(chain([0], [0.9]))
    assert match_detections(a, a[:0], 0.5) == {"same": [], "ties": 0, "other": 1}
    assert match_detections(a[:0], a[:0], 0.5) == {"same": [], "ties": 0, "other": 0}
