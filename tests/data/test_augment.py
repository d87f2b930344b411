"""Augmentations keep boxes on their objects (checked against the object pixels, no drawing of
boxes) and drop only degenerate boxes."""
import hashlib
import json

import cv2
import numpy as np
import pytest

from detector.data.dataset import DetectionDataset, collate
from detector.data.records import ImageRecord
from detector.data.synthetic import generate
from detector.data.transforms import MIN_VISIBLE, hflip, letterbox, random_affine

# saturated colours: a bilinear blend of two of them (or with the black background) is never
# within 60 of a third one
COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 255)]


def scene(rng, size=160, n=5, first=0):
    """Black image with n non-overlapping solid rectangles, each its own colour; class = colour index
    (colours first .. first + n - 1)."""
    img = np.zeros((size, size, 3), np.uint8)
    boxes = []
    for k in range(n):
        for _ in range(100):
            w, h = rng.integers(12, 50, 2)
            x, y = rng.integers(0, size - w), rng.integers(0, size - h)
            b = [x, y, x + w, y + h]
            if all(b[2] <= o[0] - 2 or b[0] >= o[2] + 2 or b[3] <= o[1] - 2 or b[1] >= o[3] + 2 for o in boxes):
                boxes.append(b)
                break
        x1, y1, x2, y2 = boxes[-1]
        img[y1:y2, x1:x2] = COLORS[first + k]
    return img, np.array(boxes, np.float32), np.arange(first, first + len(boxes))


def object_pixels(img, k):
    """Pixels clearly of object k's colour (robust to bilinear edges)."""
    c = np.array(COLORS[k])
    return np.abs(img.astype(int) - c).max(2) < 60


def check(img, boxes, classes, areas0=None, scale=1.0, tol=2.0):
    for b, c in zip(boxes, classes):
        m = object_pixels(img, int(c))
        x0, y0 = max(int(b[0]) - 4, 0), max(int(b[1]) - 4, 0)
        win = m[y0:int(b[3]) + 5, x0:int(b[2]) + 5]  # near the box only: same-colour objects elsewhere
        ys, xs = np.nonzero(win)
        assert len(xs), f"box {b} of object {c} has no object pixels"
        tight = [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1]
        assert np.abs(np.array(tight) - b).max() <= tol, (b, tight)
    if areas0 is not None:  # an object clearly visible must not have lost its box
        for c in range(len(areas0)):
            if c in set(classes.tolist()):
                continue
            m = object_pixels(img, c)
            ys, xs = np.nonzero(m)
            if len(xs) == 0:
                continue
            w, h = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
            visible = m.sum() / (areas0[c] * scale * scale)
            assert w < 4 or h < 4 or visible < MIN_VISIBLE * 1.5, f"object {c} visible ({w}x{h}, {visible:.2f}) but dropped"


@pytest.mark.parametrize("seed", range(6))
def test_random_affine_translate_scale(seed):
    rng = np.random.default_rng(seed)
    img, boxes, cls = scene(rng)
    out, b2, c2, _ = random_affine(img, boxes, cls, np.zeros((0, 4), np.float32), rng, degrees=0, translate=0.3,
                                   scale=0.0, shear=0)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    check(out, b2, c2, areas)
    assert len(b2) >= 1


@pytest.mark.parametrize("seed", range(4))
def test_random_affine_scale_rotate_shear(seed):
    """Rotation by 90 degrees multiples keeps rectangles axis-aligned: boxes stay tight."""
    rng = np.random.default_rng(seed)
    img, boxes, cls = scene(rng)
    out, b2, c2, _ = random_affine(img, boxes, cls, np.zeros((0, 4), np.float32), rng, degrees=0, translate=0.1,
                                   scale=0.5, shear=0)
    check(out, b2, c2, tol=3.0)
    # rotation: a rotated rectangle's box is the enclosing box of its corners = tight box of its pixels
    out, b3, c3, _ = random_affine(img, boxes, cls, np.zeros((0, 4), np.float32), rng, degrees=30, translate=0.0,
                                   scale=0.0, shear=0)
    check(out, b3, c3, tol=3.0)


@pytest.mark.parametrize("seed", range(3))
def test_random_affine_shear_keeps_boxes_tight(seed):
    """A sheared rectangle is a parallelogram whose extreme points are its corners: its box (the corners'
    enclosing box) is still tight on its pixels, and wider or taller than before the shear."""
    img, boxes, cls = scene(np.random.default_rng(seed))
    none = np.zeros((0, 4), np.float32)
    kw = dict(degrees=0, translate=0.0, scale=0.0)
    out, b, c, _ = random_affine(img, boxes, cls, none, np.random.default_rng(100 + seed), shear=20, **kw)
    plain, pb, pc, _ = random_affine(img, boxes, cls, none, np.random.default_rng(100 + seed), shear=0, **kw)
    check(out, b, c, tol=3.0)
    assert not np.array_equal(out, plain)  # the same draws but the shear: pixels moved
    same = [k for k in range(len(c)) if c[k] in set(pc.tolist())]
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    grown = area(b[same]).sum() / area(pb[[list(pc).index(c[k]) for k in same]]).sum()
    assert grown > 1.02


def test_flip_and_letterbox():
    rng = np.random.default_rng(0)
    img, boxes, cls = scene(rng, size=120)
    f, fb, _ = hflip(img, boxes, np.zeros((0, 4), np.float32))
    check(f, fb, cls, tol=0)
    img2 = cv2.resize(img, (120, 80), interpolation=cv2.INTER_NEAREST)
    b2 = boxes * np.array([1, 80 / 120, 1, 80 / 120], np.float32)
    lb, (rx, ry), (pl, pt) = letterbox(img2, (96, 160))
    bb = b2 * np.array([rx, ry, rx, ry]) + np.array([pl, pt, pl, pt])
    assert lb.shape == (96, 160, 3)
    check(lb, bb, cls, tol=2.0)


def test_mosaic_via_dataset(tmp_path):
    """Mosaic + affine through the dataset: every box sits on its object."""
    recs = []
    for i in range(4):
        rng = np.random.default_rng(100 + i)
        img, boxes, cls = scene(rng, size=128, n=6)
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), img)
        recs.append(ImageRecord(str(p), i, 128, 128, boxes, cls))
    ds = DetectionDataset(recs, img_size=128, augment=True,
                          hyp=dict(mosaic=1.0, hsv_h=0, hsv_s=0, hsv_v=0, fliplr=0.5, scale=0.0, translate=0.1))
    n_boxes = 0
    for i in range(4):
        for epoch in range(3):
            s = ds[(i, epoch)]
            img = s["img"].numpy().transpose(1, 2, 0)[:, :, ::-1]
            lab = s["labels"].numpy()
            assert img.shape == (128, 128, 3)
            check(img, lab[:, 1:], lab[:, 0].astype(int), tol=2.0)
            n_boxes += len(lab)
    assert n_boxes > 20
    a, b = ds[(1, 2)], ds[(1, 2)]  # deterministic per (index, epoch)
    assert np.array_equal(a["img"].numpy(), b["img"].numpy())
    assert not np.array_equal(ds[(1, 1)]["img"].numpy(), a["img"].numpy())
    batch = collate([ds[(0, 0)], ds[(1, 0)]])
    assert batch["images"].shape == (2, 3, 128, 128) and batch["targets"].shape[1] == 6
    assert set(batch["targets"][:, 0].tolist()) <= {0.0, 1.0}


def test_unreadable_image_is_skipped_and_listed(broken_then_good):
    ds = DetectionDataset(broken_then_good, img_size=32)
    s = ds[0]
    assert s["meta"]["image_id"] == 1
    assert s["meta"]["skipped"][0][0] == broken_then_good[0].path
    assert "not a decodable image" in s["meta"]["skipped"][0][1]


def _tree_hash(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_synthetic_deterministic_and_crowded(tmp_path):
    a = generate(tmp_path / "a", seed=3, train=30, val=12, size=128)
    b = generate(tmp_path / "b", seed=3, train=30, val=12, size=128)
    c = generate(tmp_path / "c", seed=4, train=30, val=12, size=128)
    assert _tree_hash(a) == _tree_hash(b) != _tree_hash(c)
    crowd = json.loads((a / "annotations" / "instances_train_crowded.json").read_text())
    assert crowd["images"]
    best = 0.0
    by_img = {}
    for an in crowd["annotations"]:
        by_img.setdefault(an["image_id"], []).append(an)
    for anns in by_img.values():
        for i, p in enumerate(anns):
            for q in anns[i + 1:]:
                if p["category_id"] != q["category_id"]:
                    continue
                (x, y, w, h), (u, v, s, t) = p["bbox"], q["bbox"]
                iw = max(0, min(x + w, u + s) - max(x, u))
                ih = max(0, min(y + h, v + t) - max(y, v))
                best = max(best, iw * ih / (w * h + s * t - iw * ih))
    assert best > 0.5
