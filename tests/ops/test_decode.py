import torch

from detector.ops.decode import (decode_outputs, dfl_to_distance, distance_to_xyxy, make_anchors,
                                 xyxy_to_distance)


def test_make_anchors_centres_and_strides():
    pts, strides = make_anchors([(2, 3), (1, 1)], [8, 16])
    assert pts.shape == (7, 2) and strides.shape == (7, 1)
    assert pts[:3].tolist() == [[0.5, 0.5], [1.5, 0.5], [2.5, 0.5]]  # row-major, (x, y)
    assert pts[3].tolist() == [0.5, 1.5]
    assert strides[:, 0].tolist() == [8] * 6 + [16]


def test_dfl_expectation_one_hot():
    R = 16
    logits = torch.full((1, 4 * R), -1e4)
    for side, b in enumerate([2, 0, 5, 15]):
        logits[0, side * R + b] = 1e4
    torch.testing.assert_close(dfl_to_distance(logits, R), torch.tensor([[2.0, 0.0, 5.0, 15.0]]))


def test_distance_roundtrip():
    pts = torch.tensor([[4.5, 3.5], [10.5, 0.5]])
    boxes = torch.tensor([[2.0, 1.0, 7.0, 9.0], [9.0, 0.0, 12.0, 3.0]])
    d = xyxy_to_distance(boxes, pts, 16)
    torch.testing.assert_close(distance_to_xyxy(d, pts), boxes)


def test_decode_outputs_pixels():
    """A one-hot DFL distribution at a known cell decodes to the expected pixel box."""
    R, nc = 16, 2
    raw = [torch.full((1, 4 * R + nc + 1, 2, 2), -1e4), torch.full((1, 4 * R + nc + 1, 1, 1), -1e4)]
    # level 0 (stride 8), cell (y=1, x=0): centre (0.5, 1.5) grid -> (4, 12) px; distances l,t,r,b = 0,1,3,2 bins
    for side, b in enumerate([0, 1, 3, 2]):
        raw[0][0, side * R + b, 1, 0] = 1e4
    raw[0][0, 4 * R + 1, 1, 0] = 0.0  # class 1 prob 0.5
    raw[0][0, 4 * R + nc, 1, 0] = 0.0  # density 0.5
    out = decode_outputs(raw, torch.tensor([8.0, 16.0]), R)
    assert out.shape == (1, 5, 4 + nc + 1)
    torch.testing.assert_close(out[0, 2, :4], torch.tensor([4.0, 4.0, 28.0, 28.0]))
    torch.testing.assert_close(out[0, 2, 4:], torch.tensor([0.0, 0.5, 0.5]))
