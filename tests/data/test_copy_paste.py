"""Copy-paste: the occlusion rule, crowd placement, masks from COCO and YOLO-seg labels, and datasets
without masks (or with copy-paste off) sampling exactly as before."""
import json

import cv2
import numpy as np
import pytest
import torch

from detector.data.copy_paste import box_iou_np, instance_mask, paste
from detector.data.dataset import DetectionDataset
from detector.data.coco_index import index_coco
from detector.data.records import index_yolo


def _square_mask(H, W, box):
    m = np.zeros((H, W), np.uint8)
    x1, y1, x2, y2 = box
    m[y1:y2, x1:x2] = 1
    return m


class FixedRng:
    """Stands in for a Generator where a test needs a known placement: uniform() returns the low end
    (the scale jitter: 1.0), random() 0.9 (no flip, no 'near'), integers() 0."""

    def __init__(self, xy):
        self.xy, self.k = list(xy), 0

    def uniform(self, lo, hi):
        if (lo, hi) == (0.8, 1.25):
            return 1.0  # no rescale
        self.k += 1
        return self.xy[(self.k - 1) % len(self.xy)]  # the same place on every try

    def random(self):
        return 0.9

    def integers(self, lo, hi=None):
        return 0


def test_occlusion_rule_drop_shrink_keep():
    H = W = 100
    img = np.zeros((H, W, 3), np.uint8)
    boxes = np.array([[10, 10, 50, 50], [60, 10, 90, 50], [10, 60, 40, 90]], np.float32)
    classes = np.array([0, 0, 1])
    masks = [_square_mask(H, W, (10, 10, 50, 50)), _square_mask(H, W, (60, 10, 90, 50)), None]
    donor = (np.full((40, 30, 3), 255, np.uint8), np.ones((40, 30), np.uint8), 1)
    # paste at x 60..90, y 15..55: covers object 1's rows 15..50 (87.5 % of it) -> dropped
    out, b, c = paste(img, boxes, classes, masks, [donor], FixedRng([60.0, 15.0]))
    assert out[30, 70].tolist() == [255, 255, 255] and out[5, 5].tolist() == [0, 0, 0]
    assert [list(x) for x in b] == [[10, 10, 50, 50], [10, 60, 40, 90], [60, 15, 90, 55]]
    assert c.tolist() == [0, 1, 1]
    # paste at x 30..60, y 10..50: covers the right half of object 0 -> kept, shrunk to x 10..30 (modal) ...
    _, b, _ = paste(img, boxes, classes, masks, [donor], FixedRng([30.0, 10.0]))
    np.testing.assert_allclose(b[0], [10, 10, 30, 50])
    # ... or kept whole (amodal)
    _, b, _ = paste(img, boxes, classes, masks, [donor], FixedRng([30.0, 10.0]), amodal=True)
    np.testing.assert_allclose(b[0], [10, 10, 50, 50])
    # an object without a mask goes by its box: 30x30 box, paste over x 10..40, y 55..95 covers it all -> dropped
    _, b, c = paste(img, boxes, classes, masks, [donor], FixedRng([10.0, 55.0]))
    assert c.tolist() == [0, 0, 1] and [10, 60, 40, 90] not in [list(x) for x in b]


def test_near_mode_overlaps_objects_of_its_class():
    rng = np.random.default_rng(0)
    H, W = 240, 320
    img = np.zeros((H, W, 3), np.uint8)
    box = np.array([[140, 60, 180, 200]], np.float32)
    ious = []
    for _ in range(30):
        donor = (np.full((140, 40, 3), 200, np.uint8), np.ones((140, 40), np.uint8), 0)
        _, b, c = paste(img, box, np.array([0]), [None], [donor], rng, near=1.0, amodal=True)
        ious.append(box_iou_np(b[-1:], box)[0, 0])
    assert np.mean([0.2 <= v <= 0.9 for v in ious]) > 0.8  # beside it at IoU 0.3-0.8 (scale jitter aside)


def test_instance_mask_polygon_and_rle():
    poly = [[10, 10, 30, 10, 30, 20, 10, 20]]  # 20 x 10 rectangle in label pixels
    m = instance_mask(poly, (0.5, 0.5), (50, 50), (100, 100))
    # scaled to x 5..15, y 5..10; OpenCV fills the outline's pixels too: 11 x 6
    assert int(m.sum()) == 66 and m[5:11, 5:16].all() and m[20, 20] == 0
    from pycocotools import mask as mu
    rle = mu.encode(np.asfortranarray(_square_mask(100, 100, (0, 0, 50, 50))))
    m = instance_mask(rle, (0.5, 0.5), (50, 50), (100, 100))
    assert m.shape == (50, 50) and m[:25, :25].all() and not m[25:, 25:].any()


def test_yolo_seg_lines_give_the_polygon_extent_and_keep_the_polygon(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text("0 0.1 0.2 0.5 0.2 0.3 0.6\n1 0.5 0.5 0.2 0.2\n0 0.1 0.2 0.3\n")
    records, issues = index_yolo(tmp_path / "images", 2, "train")
    r = records[0]
    np.testing.assert_allclose(r.boxes, [[0.1, 0.2, 0.5, 0.6], [0.4, 0.4, 0.6, 0.6]], atol=1e-6)
    assert r.segments[0] == [[0.1, 0.2, 0.5, 0.2, 0.3, 0.6]] and r.segments[1] is None
    assert len(issues) == 1 and issues[0].line == 3 and "polygon" in issues[0].reason


def _coco(tmp_path, with_masks: bool):
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir(exist_ok=True)
    images, anns = [], []
    for i in range(4):
        cv2.imwrite(str(tmp_path / "img" / f"{i}.jpg"), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
        images.append({"id": i + 1, "file_name": f"{i}.jpg", "width": 128, "height": 96})
        for k in range(2):
            x, y = 10 + 50 * k, 20
            a = {"id": 10 * i + k + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0, "bbox": [x, y, 30, 50],
                 "area": 1500}
            if with_masks:
                a["segmentation"] = [[x, y, x + 30, y, x + 15, y + 50]]
            anns.append(a)
    p = tmp_path / f"ann{int(with_masks)}.json"
    p.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "p"}]}))
    return index_coco(tmp_path / "img", p, "train")[0]


def _samples(records, **hyp):
    ds = DetectionDataset(records, 128, augment=True, hyp=hyp, seed=3)
    return [ds[(i, 0)] for i in range(len(ds))]


def _same(a, b):
    return all(torch.equal(x["img"], y["img"]) and torch.equal(x["labels"], y["labels"]) for x, y in zip(a, b))


def test_without_masks_or_when_off_samples_are_unchanged(tmp_path):
    plain, masked = _coco(tmp_path, False), _coco(tmp_path, True)
    assert all(r.segments is None for r in plain) and all(len(r.segments) == 2 for r in masked)
    ref = _samples(plain)
    assert _same(ref, _samples(plain, copy_paste=1.0))  # no masks: nothing to paste, same random stream
    assert _same(ref, _samples(masked))  # masks present, copy-paste off (the default)
    pasted = _samples(masked, copy_paste=1.0, mosaic=0.0)
    assert not _same(_samples(masked, mosaic=0.0), pasted)
    for s in pasted:  # boxes stay inside the image after paste + affine + flip
        lb = s["labels"]
        assert (lb[:, 1:] >= 0).all() and (lb[:, [1, 3]] <= 128).all() and (lb[:, [2, 4]] <= 128).all()
