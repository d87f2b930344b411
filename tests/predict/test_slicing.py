"""Sliced inference: the tile grid, boxes cut by inner tile edges, and the merge — exact on a stub detector
that finds white squares, beside the whole-image answer; the real Detector and detect.py with --slice."""
import cv2
import numpy as np
import pytest
import torch

from detector.predict.predictor import PostprocessOptions
from detector.predict.slicing import SliceOptions, predict_sliced, tile_grid

from ..tools.conftest import small_ckpt, tool  # noqa: F401  (a fixture and a helper)


def test_tile_grid_covers_the_image_with_the_overlap():
    t = tile_grid(1000, 1500, 640, 0.2)
    assert t[:, 0].min() == 0 and t[:, 1].min() == 0 and t[:, 2].max() == 1500 and t[:, 3].max() == 1000
    assert set((t[:, 2] - t[:, 0]).tolist()) == {640} and set((t[:, 3] - t[:, 1]).tolist()) == {640}
    assert sorted(set(t[:, 0].tolist())) == [0, 512, 860]  # step 512; the last tile ends at the border
    cover = np.zeros((1000, 1500), bool)
    for x0, y0, x1, y1 in t:
        cover[y0:y1, x0:x1] = True
    assert cover.all()
    assert tile_grid(300, 200, 640, 0.2).tolist() == [[0, 0, 200, 300]]  # smaller than a tile: one tile
    with pytest.raises(ValueError, match="--slice-overlap 1"):
        SliceOptions(640, 1.0)


class SquareFinder:
    """A stand-in for the Predictor: 'detects' each white square of a crop (its connected components),
    score from its brightness, in the crop's own pixels."""
    stride, img = 32, 640

    def __init__(self):
        self.options = PostprocessOptions(conf_thres=0.25, iou_thres=0.5, nms="greedy")
        self.calls = []

    def preprocess(self, images):
        self.calls.append([im.shape[:2] for im in images])
        return images, [{} for _ in images]

    def forward(self, x):
        return x

    def postprocess(self, images):
        out = []
        for im in images:
            n, _, stats, _ = cv2.connectedComponentsWithStats((im[:, :, 0] > 0).astype(np.uint8))
            rows = [[x, y, x + w, y + h, im[y, x, 0] / 255, 0, 0] for x, y, w, h, _ in stats[1:]]
            out.append(torch.tensor(rows, dtype=torch.float32).reshape(-1, 7))
        return out

    def to_original(self, dets, metas):
        return dets


def _squares(rng, h, w, n, side):
    img = np.zeros((h, w, 3), np.uint8)
    boxes = []
    while len(boxes) < n:
        x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        if all(x + side + 2 < a or a + side + 2 < x or y + side + 2 < b or b + side + 2 < y for a, b in boxes):
            boxes.append((x, y))
            img[y:y + side, x:x + side] = 100 + len(boxes)
    return img, sorted((x, y, x + side, y + side) for x, y in boxes)


def test_tiles_alone_find_every_small_object_exactly_once():
    """Objects smaller than the overlap: each is whole in some tile; cut copies are dropped, duplicates from
    two tiles are merged: the answer is exactly the objects (as the whole-image pass gives them)."""
    img, truth = _squares(np.random.default_rng(0), 700, 900, 40, 30)
    finder = SquareFinder()
    d = predict_sliced(finder, img, SliceOptions(256, 0.25, full=False))
    got = sorted(tuple(int(v) for v in r[:4]) for r in d)
    assert got == truth and len(tile_grid(700, 900, 256, 0.25)) == 20 and len(finder.calls) == 3  # batches of 8
    whole = sorted(tuple(int(v) for v in r[:4]) for r in finder.postprocess([img])[0])
    assert got == whole


def test_slice_img_sets_the_network_input_of_each_tile():
    """Tiles run at their own size by default (native resolution), at --slice-img when given (rounded up to
    the stride); the whole-image pass keeps the predictor's own size."""
    seen = []

    class Recorder(SquareFinder):
        def preprocess(self, images):
            seen.append(self.img)
            return super().preprocess(images)

    img, _ = _squares(np.random.default_rng(0), 300, 300, 5, 20)
    predict_sliced(Recorder(), img, SliceOptions(200, 0.25, full=True))
    assert seen == [224, 640]  # 200 px tiles rounded up to stride 32; then the whole image
    seen.clear()
    predict_sliced(Recorder(), img, SliceOptions(200, 0.25, full=False, img=100))
    assert seen == [128]


def test_large_objects_come_from_the_full_image_pass():
    img = np.zeros((600, 600, 3), np.uint8)
    img[100:500, 150:450] = 200  # larger than any tile: cut in every tile
    finder = SquareFinder()
    tiles_only = predict_sliced(finder, img, SliceOptions(256, 0.2, full=False))
    assert len(tiles_only) == 0
    d = predict_sliced(finder, img, SliceOptions(256, 0.2))
    assert [int(v) for v in d[0, :4]] == [150, 100, 450, 500] and len(d) == 1


def test_detector_and_detect_py_slice(small_ckpt, tmp_path):
    from detector import Detector

    img = (np.random.default_rng(1).random((200, 300, 3)) * 255).astype(np.uint8)
    det = Detector(small_ckpt, "cpu", img=96, conf_thres=0.01, slice=96, slice_overlap=0.25)
    d = det.predict(img)
    assert d.boxes.shape[1] == 4 and (d.boxes[:, [0, 2]] <= 300).all() and (d.boxes[:, [1, 3]] <= 200).all()
    assert list(d.scores) == sorted(d.scores, reverse=True)
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    assert tool("detect").main(["--weights", str(small_ckpt), "--source", str(tmp_path / "a.jpg"), "--img", "96",
                                "--slice", "96", "--project", str(tmp_path), "--name", "d", "--device", "cpu"]) == 0
    assert (tmp_path / "d" / "a.jpg").is_file()


def test_val_py_slice_scores_the_split(small_ckpt, tiny_data, tmp_path):
    """val.py --slice: the split's images whole, tiled, merged and scored; metrics.json says how."""
    import json

    r = tool("val").main(["--weights", str(small_ckpt), "--data", str(tiny_data), "--img", "64", "--slice", "64",
                          "--slice-overlap", "0.25", "--device", "cpu", "--project", str(tmp_path), "--name", "v",
                          "--no-plots"])
    assert r == 0
    m = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert m["images"] == 8 and m["slice"] == {"size": 64, "overlap": 0.25, "full": True, "img": None} and "mAP50-95" in m
