"""Assigner, density targets and loss terms on hand-built cases with expected numbers."""
import math

import torch
import torch.nn.functional as F

from detector.loss import DetectionLoss, TaskAlignedAssigner, density_targets
from detector.loss.detection_loss import dfl_loss, pad_targets, weighted_total


def test_density_targets_hand_built():
    a = [0.0, 0.0, 100.0, 100.0]
    b = [0.0, 25.0, 100.0, 125.0]  # IoU with a = 75 / 125 = 0.6
    c = [300.0, 300.0, 350.0, 350.0]  # isolated
    boxes = torch.tensor([[a, b, c]])
    mask = torch.tensor([[True, True, True]])
    torch.testing.assert_close(density_targets(boxes, mask), torch.tensor([[0.6, 0.6, 0.0]]))
    labels = torch.tensor([[0, 1, 0]])
    torch.testing.assert_close(density_targets(boxes, mask, labels, per_class=True), torch.tensor([[0.0, 0.0, 0.0]]))
    mask[0, 1] = False  # padding does not count
    torch.testing.assert_close(density_targets(boxes, mask)[0, 0], torch.tensor(0.0))


def test_assigner_one_gt_one_location():
    points = torch.tensor([[50.0, 50.0], [500.0, 500.0]])
    pd_boxes = torch.tensor([[[10.0, 10.0, 90.0, 90.0], [480.0, 480.0, 520.0, 520.0]]])
    pd_scores = torch.tensor([[[0.2, 0.6], [0.9, 0.9]]])
    gt_boxes = torch.tensor([[[0.0, 0.0, 100.0, 100.0]]])
    labels, boxes, scores, fg, gt_idx, ignore = TaskAlignedAssigner(topk=10)(
        pd_scores, pd_boxes, points, torch.tensor([[1]]), gt_boxes, torch.tensor([[True]]))
    assert fg.tolist() == [[True, False]]  # only the anchor inside the box
    assert labels[0, 0] == 1 and boxes[0, 0].tolist() == [0.0, 0.0, 100.0, 100.0]
    iou = 0.64  # 80x80 inside 100x100
    # a single positive: normalized alignment = align * max_iou / max_align = IoU
    torch.testing.assert_close(scores[0, 0], torch.tensor([0.0, iou]))
    assert scores[0, 1].abs().sum() == 0 and not ignore.any()


def test_assigner_topk_and_ambiguity():
    """Two overlapping gts competing for one anchor: it goes to the one it overlaps most."""
    points = torch.tensor([[50.0, 50.0]])
    pd_boxes = torch.tensor([[[20.0, 20.0, 80.0, 80.0]]])
    pd_scores = torch.full((1, 1, 1), 0.5)
    gts = torch.tensor([[[0.0, 0.0, 100.0, 100.0], [15.0, 15.0, 85.0, 85.0]]])
    _, boxes, _, fg, gt_idx, _ = TaskAlignedAssigner()(pd_scores, pd_boxes, points, torch.tensor([[0, 0]]), gts,
                                                       torch.tensor([[True, True]]))
    assert fg.item() and gt_idx.item() == 1


def test_crowd_region_is_ignored():
    points = torch.tensor([[50.0, 50.0], [200.0, 200.0], [400.0, 400.0]])
    pd_boxes = torch.tensor([[[40.0, 40, 60, 60], [190.0, 190, 210, 210], [390.0, 390, 410, 410]]])
    pd_scores = torch.full((1, 3, 2), 0.3)
    gts = torch.tensor([[[30.0, 30, 70, 70]]])
    crowd = torch.tensor([[[150.0, 150, 250, 250], [0.0, 0, 100, 100]]])  # 2nd crowd covers the positive
    *_, fg, _, ignore = TaskAlignedAssigner()(pd_scores, pd_boxes, points, torch.tensor([[0]]), gts,
                                             torch.tensor([[True]]), crowd, torch.tensor([[True, True]]))
    assert fg.tolist() == [[True, False, False]]  # a crowd region never removes a positive ...
    assert ignore.tolist() == [[False, True, False]]  # ... and anchors inside it are no negatives

    # the loss does not depend on what is predicted inside the crowd region
    strides = torch.tensor([8.0])
    loss = DetectionLoss(strides, nc=2)
    raw = torch.zeros(1, 4 * 16 + 2 + 1, 8, 8)
    t = torch.tensor([[0.0, 0.0, 4.0, 4.0, 20.0, 20.0]])
    c = torch.tensor([[0.0, 40.0, 40.0, 64.0, 64.0]])
    l1, _ = loss([raw], t, c)
    raw2 = raw.clone()
    raw2[0, 64:66, 6, 6] = 8.0  # confident class logits at a cell centred in the crowd box
    l2, _ = loss([raw2], t, c)
    torch.testing.assert_close(l1, l2)
    l3, _ = loss([raw2], t, None)  # without the crowd region the same prediction is a false positive
    assert l3 > l2


def test_empty_image_loss_is_background_bce():
    loss = DetectionLoss(torch.tensor([8.0, 16.0]), nc=3)
    raw = [torch.zeros(2, 4 * 16 + 3 + 1, 4, 4), torch.zeros(2, 4 * 16 + 3 + 1, 2, 2)]
    total, items = loss(raw, torch.zeros(0, 6))
    n = 2 * (16 + 4) * 3
    expect_cls = n * math.log(2)  # BCE(0 logit, 0 target) = log 2 per entry; normalized by max(tss, 1) = 1
    assert list(items) == ["box", "cls", "dfl", "density"]  # named terms, in this order
    torch.testing.assert_close(torch.stack(list(items.values())), torch.tensor([0.0, expect_cls, 0.0, 0.0]))
    torch.testing.assert_close(total, torch.tensor(0.5 * expect_cls * 2))


def test_dfl_loss_integer_and_fractional_targets():
    logits = torch.tensor([[[0.0, 1.0, 2.0, 3.0]] * 4])
    lp = F.log_softmax(logits[0, 0], -1)
    torch.testing.assert_close(dfl_loss(logits, torch.full((1, 4), 2.0)), -lp[2][None])
    torch.testing.assert_close(dfl_loss(logits, torch.full((1, 4), 1.25)), -(0.75 * lp[1] + 0.25 * lp[2])[None])


def test_pad_targets():
    t = torch.tensor([[1.0, 5, 1, 1, 2, 2], [0.0, 3, 0, 0, 1, 1], [1.0, 4, 2, 2, 3, 3]])
    out, mask = pad_targets(t, 3, 5)
    assert out.shape == (3, 2, 5) and mask.tolist() == [[True, False], [True, True], [False, False]]
    assert out[1, :, 0].tolist() == [5.0, 4.0] and out[0, 0, 0] == 3


def test_box_loss_zero_for_perfect_prediction():
    """A prediction equal to its target gives CIoU loss 0 and the minimum DFL loss."""
    R = 16
    loss = DetectionLoss(torch.tensor([8.0]), nc=1, reg_max=R)
    raw = torch.full((1, 4 * R + 1 + 1, 4, 4), -20.0)
    # cell (1, 1): centre (12, 12) px; target box 4..28 -> distances 1 bin (8 px) and 2 bins (16 px)
    for side, b in enumerate([1, 1, 2, 2]):
        raw[0, side * R + b, 1, 1] = 20.0
    raw[0, 4 * R, 1, 1] = 5.0
    t = torch.tensor([[0.0, 0.0, 4.0, 4.0, 28.0, 28.0]])
    _, items = loss([raw], t)
    assert items["box"] < 1e-6 and items["dfl"] < 1e-6


def test_assigner_ciou_overlaps_match_torchvision_and_stay_inside():
    from torchvision.ops import complete_box_iou

    gt = torch.tensor([[[10.0, 10.0, 50.0, 40.0], [0.0, 0.0, 20.0, 20.0]]])  # [1, 2, 4]
    pd = torch.tensor([[[12.0, 8.0, 48.0, 44.0], [30.0, 30.0, 70.0, 70.0], [0.0, 0.0, 21.0, 19.0]]])  # [1, 3, 4]
    inside = torch.tensor([[[True, True, False], [False, False, True]]])
    ciou = TaskAlignedAssigner(ciou=True).overlaps(gt, pd, inside)
    plain = TaskAlignedAssigner().overlaps(gt, pd, inside)
    ref = complete_box_iou(gt[0], pd[0]).clamp(0) * inside[0]
    assert torch.allclose(ciou[0], ref, atol=1e-6)
    assert ciou[0, 0, 2] == 0 and ciou[0, 1, 0] == 0  # outside: zero
    # CIoU subtracts a centre-distance and an aspect penalty: never above IoU, below it when centres differ
    assert (ciou <= plain + 1e-6).all() and ciou[0, 0, 0] < plain[0, 0, 0]


def test_assigner_ciou_assigns_like_iou_on_a_clear_case():
    pts = torch.tensor([[30.0, 25.0], [100.0, 100.0]])
    gt = torch.tensor([[[10.0, 10.0, 50.0, 40.0]]])
    pd = torch.tensor([[[11.0, 11.0, 49.0, 39.0], [90.0, 90.0, 110.0, 110.0]]])
    scores = torch.full((1, 2, 1), 0.5)
    for ciou in (False, True):
        _, _, ts, fg, _, _ = TaskAlignedAssigner(topk=1, ciou=ciou)(
            scores, pd, pts, torch.zeros(1, 1, dtype=torch.long), gt, torch.ones(1, 1, dtype=torch.bool))
        assert fg.tolist() == [[True, False]] and ts[0, 0, 0] > 0


def test_total_is_the_gain_weighted_sum_of_the_named_terms_times_batch():
    loss = DetectionLoss(torch.tensor([8.0]), nc=2, gains={"box": 7.5, "cls": 0.5, "dfl": 1.5, "density": 0.25})
    raw = [torch.randn(3, 4 * 16 + 2 + 1, 6, 6, generator=torch.Generator().manual_seed(0)).requires_grad_()]
    t = torch.tensor([[0.0, 1.0, 4.0, 4.0, 30.0, 26.0], [2.0, 0.0, 10.0, 12.0, 40.0, 44.0]])
    total, items = loss(raw, t)
    terms = loss.terms(raw, t)
    assert all(v.requires_grad for v in terms.values()) and not any(v.requires_grad for v in items.values())
    expect = 3 * (7.5 * terms["box"] + 0.5 * terms["cls"] + 1.5 * terms["dfl"] + 0.25 * terms["density"])
    torch.testing.assert_close(total, expect)
    extra = dict(terms, distill=torch.tensor(2.0))  # a term without a gain counts once
    torch.testing.assert_close(weighted_total(extra, loss.gains, 3), expect + 6.0)
