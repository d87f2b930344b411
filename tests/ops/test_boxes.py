import torch
from torchvision.ops import box_iou, distance_box_iou

from detector.ops.boxes import batched_box_iou, batched_diou


def _boxes(g, n, seed):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(g, n, 2, generator=gen) * 100
    wh = torch.rand(g, n, 2, generator=gen) * 50
    b = torch.cat([xy, xy + wh], -1)
    b[0, 0] = torch.tensor([5.0, 5, 5, 5])  # a zero-area box
    return b


def test_batched_box_iou_is_bit_identical_to_torchvision_per_group():
    a, b = _boxes(3, 17, 0), _boxes(3, 11, 1)
    out = batched_box_iou(a, b)
    assert out.shape == (3, 17, 11)
    for g in range(3):
        ref = box_iou(a[g], b[g])
        torch.testing.assert_close(out[g], ref, rtol=0, atol=0, equal_nan=True)  # bit for bit, 0/0 -> NaN alike
    assert out[0, 0, 0].isnan()


def test_batched_diou_matches_torchvision():
    a, b = _boxes(2, 9, 2)[:, 1:], _boxes(2, 7, 3)[:, 1:]
    out = batched_diou(a, b)
    for g in range(2):
        torch.testing.assert_close(out[g], distance_box_iou(a[g], b[g]), rtol=1e-5, atol=1e-5)
