"""Sliced training data (detector/data/tiling.py, tools/slice_dataset.py): boxes clipped to each tile and
kept by visible share, every small object whole in some tile at its exact place, empty tiles thinned,
whole images kept on request, and a data YAML that trains on the tiles and validates on the whole images."""
import sys

import cv2
import numpy as np
import pytest

from detector.data.build import index_split
from detector.data.config import load_data_config
from detector.data.tiling import slice_split, tile_boxes
from detector.ops.tiles import tile_grid

from ..conftest import ROOT


def test_tile_boxes_clips_and_keeps_by_visible_share():
    boxes = np.array([[110, 110, 130, 130],   # inside the tile
                      [90, 150, 110, 170],    # half inside: clipped
                      [80, 200, 100.5, 210],  # 2 % inside: cut
                      [300, 300, 320, 320]])  # elsewhere: not touching the tile
    kept, idx = tile_boxes(boxes, (100, 100, 228, 228), min_visible=0.1)
    assert idx.tolist() == [0, 1]
    assert kept.tolist() == [[10, 10, 30, 30], [0, 50, 10, 70]]
    assert tile_boxes(boxes, (100, 100, 228, 228), min_visible=0.6)[1].tolist() == [0]


def _dataset(tmp_path, n_img=2, h=300, w=500):
    """A YOLO dataset of bright squares (22 px, well apart) on black, train and val, its data YAML."""
    rng = np.random.default_rng(0)
    truth = {}
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
        for i in range(n_img):
            img, rows, placed = np.zeros((h, w, 3), np.uint8), [], []
            while len(placed) < 12:
                x, y = int(rng.integers(0, w - 22)), int(rng.integers(0, h - 22))
                if all(abs(x - a) > 30 or abs(y - b) > 30 for a, b in placed):
                    placed.append((x, y))
                    img[y:y + 22, x:x + 22] = 200
                    rows.append(f"{len(placed) % 2} {(x + 11) / w} {(y + 11) / h} {22 / w} {22 / h}")
            cv2.imwrite(str(tmp_path / "images" / split / f"im{i}.png"), img)
            (tmp_path / "labels" / split / f"im{i}.txt").write_text("\n".join(rows) + "\n")
            truth[(split, f"im{i}")] = placed
    y = tmp_path / "data.yaml"
    y.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames: [a, b]\n")
    return y, truth


def _read_tiles(out, split):
    """{tile stem: [(class, x0, y0, x1, y1) in the tile's pixels]} from the written YOLO labels."""
    got = {}
    for lbl in sorted((out / "labels" / split).glob("*.txt")):
        im = cv2.imread(str(next((out / "images" / split).glob(lbl.stem + ".*"))))
        th, tw = im.shape[:2]
        rows = [[float(v) for v in line.split()] for line in lbl.read_text().splitlines()]
        got[lbl.stem] = [(int(c), round((x - bw / 2) * tw), round((y - bh / 2) * th), round((x + bw / 2) * tw),
                          round((y + bh / 2) * th)) for c, x, y, bw, bh in rows]
    return got


def test_every_small_object_is_whole_in_some_tile_at_its_place(tmp_path):
    y, truth = _dataset(tmp_path / "src")
    cfg = load_data_config(y)
    out = tmp_path / "sl"
    st = slice_split(index_split(cfg, "train"), out, "train", size=128, overlap=0.25, progress=False)
    n_tiles = len(tile_grid(300, 500, 128, 0.25))
    assert st["images"] == 2 and st["tiles"] == 2 * n_tiles and st["unreadable"] == []
    got = _read_tiles(out, "train")
    for i in range(2):
        whole = set()
        for x0, y0, x1, y1 in tile_grid(300, 500, 128, 0.25):
            for c, a, b, cc, d in got[f"im{i}_{x0}_{y0}"]:
                assert 0 <= a < cc <= x1 - x0 and 0 <= b < d <= y1 - y0
                if cc - a == 22 and d - b == 22:
                    whole.add((a + x0, b + y0))
            tile = (out / "images" / "train" / f"im{i}_{x0}_{y0}.png")
            assert cv2.imread(str(tile)).shape[:2] == (y1 - y0, x1 - x0)
        assert whole == set(truth[("train", f"im{i}")])  # squares are smaller than the overlap
    assert st["boxes"] == sum(len(v) for v in got.values())


def test_empty_tiles_thinned_full_images_kept(tmp_path):
    y, _ = _dataset(tmp_path / "src")
    cfg = load_data_config(y)
    idx = index_split(cfg, "train")
    a = slice_split(idx, tmp_path / "a", "train", size=64, overlap=0.0, keep_empty=1.0, progress=False)
    b = slice_split(idx, tmp_path / "b", "train", size=64, overlap=0.0, keep_empty=0.0, full=True, progress=False)
    assert a["empty_kept"] > 0 and a["empty_left_out"] == 0
    assert b["empty_kept"] == 0 and b["empty_left_out"] == a["empty_kept"]
    assert b["tiles"] == a["tiles"] - a["empty_kept"] and b["full_images"] == 2
    full = cv2.imread(str(tmp_path / "b" / "images" / "train" / "im0_full.png"))
    assert full.shape[:2] == (300, 500) and len((tmp_path / "b" / "labels" / "train" / "im0_full.txt").read_text()
                                                  .splitlines()) == 12
    assert a["cut"] > 0  # 22 px squares on a 64 px grid without overlap: some are cut
    with pytest.raises(ValueError, match="overlap 1"):
        slice_split(idx, tmp_path / "c", "train", size=64, overlap=1.0)


def test_slice_dataset_tool_trains_on_tiles_and_validates_on_whole_images(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    import slice_dataset

    y, _ = _dataset(tmp_path / "src")
    out = tmp_path / "sl"
    assert slice_dataset.main(["--data", str(y), "--out", str(out), "--size", "128", "--overlap", "0.25"]) == 0
    assert "train: {" in capsys.readouterr().out
    cfg = load_data_config(out / "data.yaml")
    tr, va = index_split(cfg, "train"), index_split(cfg, "val")
    assert tr.names == va.names == ["a", "b"] and tr.n_rejected == va.n_rejected == 0
    assert len(tr.records) == 2 * len(tile_grid(300, 500, 128, 0.25))
    assert sorted(r.path for r in va.records) == sorted(str(p) for p in (tmp_path / "src" / "images" / "val").glob("*"))
    assert slice_dataset.main(["--data", str(y), "--out", str(out), "--overlap", "1.5"]) == 2
    assert "overlap 1.5" in capsys.readouterr().err
