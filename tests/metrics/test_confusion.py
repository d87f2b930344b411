import numpy as np
import torch

from detector.metrics.confusion import ConfusionMatrix


def _d(rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)


def test_matches_misses_false_positives_and_confusions():
    cm = ConfusionMatrix(nc=2, conf=0.25, iou=0.5)
    gt = torch.tensor([[0.0, 0, 10, 10], [20.0, 20, 30, 30], [50.0, 50, 60, 60]])
    gc = torch.tensor([0, 1, 1])
    dets = _d([[0, 0, 10, 10, 0.9, 0],      # TP class 0
               [20, 20, 30, 31, 0.8, 0],    # class confusion: predicted 0, true 1
               [80, 80, 90, 90, 0.7, 1],    # false positive of class 1
               [50, 50, 60, 60, 0.1, 1]])   # below conf: ignored -> the third gt is missed
    cm.update(dets, gt, gc)
    expect = np.zeros((3, 3), np.int64)
    expect[0, 0] = 1      # pred 0, true 0
    expect[0, 1] = 1      # pred 0, true 1
    expect[1, 2] = 1      # pred 1, background (FP)
    expect[2, 1] = 1      # missed true 1 (FN)
    np.testing.assert_array_equal(cm.matrix, expect)


def test_one_to_one_matching_by_highest_iou():
    cm = ConfusionMatrix(nc=1, conf=0.0, iou=0.5)
    gt = torch.tensor([[0.0, 0, 10, 10]])
    dets = _d([[0, 0, 10, 9, 0.9, 0], [0, 0, 10, 10, 0.5, 0]])  # both overlap; the exact one wins
    cm.update(dets, gt, torch.tensor([0]))
    assert cm.matrix[0, 0] == 1 and cm.matrix[0, 1] == 1 and cm.matrix[1, 0] == 0


def test_empty_sides():
    cm = ConfusionMatrix(nc=2)
    cm.update(_d([]), torch.tensor([[0.0, 0, 5, 5]]), torch.tensor([1]))
    cm.update(_d([[0, 0, 5, 5, 0.9, 0]]), torch.zeros(0, 4), torch.zeros(0))
    assert cm.matrix[2, 1] == 1 and cm.matrix[0, 2] == 1 and cm.matrix.sum() == 2
