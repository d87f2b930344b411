"""Same file name in two sub-folders (two cameras' 000001.jpg): unique ids and names in our files, in
--pred matching and in detect's outputs (issue 25 item 1: right boxes used to score 0.43, and detect
overwrote one camera's result)."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from detector.predict.detect_sources import image_names

from ..conftest import ROOT
from ..tools.conftest import tool


@pytest.fixture
def two_cams(tmp_path):
    root = tmp_path / "ds"
    for cam, box in (("seq1", "0 0.3 0.3 0.2 0.2"), ("seq2", "0 0.7 0.6 0.3 0.4")):
        for k in (1, 2):
            p = root / "images" / "val" / cam / f"00000{k}.jpg"
            p.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(p), np.full((60, 80, 3), 40 * k, np.uint8))
            lp = root / "labels" / "val" / cam / f"00000{k}.txt"
            lp.parent.mkdir(parents=True, exist_ok=True)
            lp.write_text(box + "\n")
    y = tmp_path / "d.yaml"
    y.write_text(f"path: {root}\nval: images/val\nnames: [a]\n")
    return y, root


def _rows(root, name_key):
    rows = []
    for cam, (cx, cy, w, h) in (("seq1", (0.3, 0.3, 0.2, 0.2)), ("seq2", (0.7, 0.6, 0.3, 0.4))):
        for k in (1, 2):
            rows.append({name_key: f"{cam}/00000{k}.jpg" if name_key == "file_name" else f"00000{k}.jpg",
                         "category_id": 1, "bbox": [(cx - w / 2) * 80, (cy - h / 2) * 60, w * 80, h * 60],
                         "score": 0.9})
    return rows


def test_pred_matches_by_relative_path_and_refuses_ambiguous_bare_names(tmp_path, two_cams):
    data, root = two_cams
    p = tmp_path / "p.json"
    p.write_text(json.dumps(_rows(root, "file_name")))
    argv = ["--pred", str(p), "--data", str(data), "--project", str(tmp_path / "r"), "--name", "v", "--exist-ok"]
    assert tool("val").main(argv) == 0
    assert json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())["mAP50-95"] == pytest.approx(1.0)
    bare = [dict(r, file_name=r["file_name"].split("/")[-1]) for r in _rows(root, "file_name")]
    p.write_text(json.dumps(bare))
    assert tool("val").main(argv) == 2  # a bare name two images share matches neither: said, not mis-scored


def test_our_results_files_name_each_image_once(tmp_path, two_cams):
    from detector.data import index_split, load_data_config
    from detector.metrics.coco_eval import COCOEvaluator

    data, _ = two_cams
    idx = index_split(load_data_config(data), "val")
    ev = COCOEvaluator.from_split(idx)
    ids = [e for e, _ in ev.external.values()]
    names = [n for _, n in ev.external.values()]
    assert len(set(ids)) == len(set(names)) == 4
    assert sorted(names) == ["seq1/000001.jpg", "seq1/000002.jpg", "seq2/000001.jpg", "seq2/000002.jpg"]


def test_image_names_mirror_subfolders_and_ids_stay_unique():
    rels, ids = image_names(["/d/seq1/000001.jpg", "/d/seq2/000001.jpg", "/d/seq2/7.jpg", "/d/seq2/x.jpg"])
    assert rels == ["seq1/000001.jpg", "seq2/000001.jpg", "seq2/7.jpg", "seq2/x.jpg"]
    assert ids == [1, 2, 7, 3] and len(set(ids)) == 4  # the shared stem 000001 gives way to free numbers
    assert image_names(["/a/b.jpg", "/a/c.jpg"]) == (["b.jpg", "c.jpg"], [1, 2])


def test_detect_keeps_both_cameras(tmp_path, two_cams):
    import torch

    from detector import build_model
    from detector.checkpoint import save_checkpoint

    torch.manual_seed(0)
    m = build_model(ROOT / "cfg" / "yolo_base.yaml", nc=1)
    ck = tmp_path / "m.pt"
    save_checkpoint(ck, {"model": m.state_dict(), "model_cfg": m.yaml, "names": ["a"], "nms": "greedy"})
    _, root = two_cams
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "detect.py"), "--weights", str(ck), "--source",
                        str(root / "images" / "val"), "--img", "64", "--project", str(tmp_path), "--name", "o",
                        "--save-txt", "--save-json", "--conf-thres", "0.0", "--max-det", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "o"
    for cam in ("seq1", "seq2"):
        assert (out / cam / "000001.jpg").is_file() and (out / "labels" / cam / "000001.txt").is_file()
    rows = json.loads((out / "predictions.json").read_text())
    assert len({(r["image_id"], r["file_name"]) for r in rows}) == 4 == len({r["image_id"] for r in rows})
