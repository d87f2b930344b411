"""Bad data given to the tools: a truncated JPEG that passes the header check is skipped, named and
counted (exit 1), and scored once; duplicate ids in a COCO json are errors; train and val classes
must agree by name."""
import json

import cv2
import numpy as np

from detector.data import DetectionDataset, index_split, load_data_config
from detector.data.coco_index import index_coco

from .conftest import tool

NAMES = ["circle", "square", "triangle", "star"]


def _yolo_split(tmp_path, truncated: bool):
    img_dir, lbl_dir = tmp_path / "images" / "val", tmp_path / "labels" / "val"
    img_dir.mkdir(parents=True)
    lbl_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(3):
        ok, buf = cv2.imencode(".jpg", (rng.random((60 + 10 * k, 80, 3)) * 255).astype(np.uint8))
        data = buf.tobytes()
        if truncated and k == 1:  # valid header, body cut and padded: decoding fails
            data = data[:300] + bytes(200)
        (img_dir / f"{k + 1}.jpg").write_bytes(data)
        (lbl_dir / f"{k + 1}.txt").write_text(f"{k} 0.5 0.5 0.3 0.3\n")
    y = tmp_path / "d.yaml"
    y.write_text(f"path: {tmp_path}\nval: images/val\nnames: {NAMES}\n")
    return y


def test_truncated_jpeg_is_skipped_in_rect_validation(tmp_path):
    y = _yolo_split(tmp_path, truncated=True)
    idx = index_split(load_data_config(y), "val")
    ds = DetectionDataset(idx.records, 64, rect=True, batch_size=2)
    assert len(ds) == 2 and [p for p, _ in ds.unreadable] == [str(tmp_path / "images" / "val" / "2.jpg")]


def test_val_tool_names_the_skipped_image_and_exits_1(tmp_path, small_ckpt, capsys):
    y = _yolo_split(tmp_path, truncated=True)
    argv = ["--weights", str(small_ckpt), "--data", str(y), "--img", "64", "--batch", "2", "--workers", "0",
            "--no-plots", "--project", str(tmp_path / "r"), "--name", "v"]
    assert tool("val").main(argv) == 1
    err = capsys.readouterr().err
    assert "2.jpg" in err and "not a decodable image" in err and "Traceback" not in err
    m = json.loads((tmp_path / "r" / "v" / "metrics.json").read_text())
    assert m["images"] == 2 and len(m["skipped"]) == 1
    rows = json.loads((tmp_path / "r" / "v" / "predictions.json").read_text())
    assert {r["image_id"] for r in rows} <= {1, 3}  # the stand-in image is not scored twice, 2 not at all


def test_duplicate_image_ids_and_files_are_errors(tmp_path):
    (tmp_path / "images").mkdir()
    for n in ("a.jpg", "b.jpg", "c.jpg"):
        cv2.imwrite(str(tmp_path / "images" / n), np.zeros((20, 20, 3), np.uint8))
    ann = {"images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 20},
                      {"id": 1, "file_name": "b.jpg", "width": 20, "height": 20},
                      {"id": 2, "file_name": "c.jpg", "width": 20, "height": 20},
                      {"id": 3, "file_name": "c.jpg", "width": 20, "height": 20}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
                           {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]},
                           {"id": 2, "image_id": 2, "category_id": 1, "bbox": [2, 2, 5, 5]}],
           "categories": [{"id": 1, "name": "x"}]}
    (tmp_path / "a.json").write_text(json.dumps(ann))
    records, issues, _, _ = index_coco(tmp_path / "images", tmp_path / "a.json", "val")
    assert [r.image_id for r in records] == [2]  # both images with id 1 out; c.jpg once
    text = "\n".join(map(str, issues))
    assert "image id 1 is used by 2 images" in text and "image file 'c.jpg' is listed twice" in text
    assert "annotation for image_id 1, which several images share" in text
    assert "duplicate annotation id 2" in text


def test_train_and_val_classes_must_agree(tmp_path, tiny_data, capsys):
    d = tmp_path / "mixed.yaml"
    base = tiny_data.read_text()
    d.write_text(base.replace("path: ", "path: ").replace("val: {images: images/val, annotations: annotations/instances_val.json}",
                                                       f"val: {{images: images/val, annotations: {tmp_path / 'v.json'}}}"))
    ds_root = tiny_data.parent / "ds"
    v = json.loads((ds_root / "annotations" / "instances_val.json").read_text())
    v["categories"][0]["name"] = "ring"
    (tmp_path / "v.json").write_text(json.dumps(v))
    argv = ["--data", str(d), "--epochs", "1", "--img", "64", "--batch", "4", "--workers", "0",
            "--project", str(tmp_path / "r")]
    assert tool("train").main(argv) == 2
    err = capsys.readouterr().err
    assert "class names differ" in err and "'circle' vs 'ring'" in err


def test_annotation_json_over_a_memory_limit_is_one_sentence(tmp_path):
    """Under a real address-space limit, a json that does not fit ends in one sentence naming it (exit 2),
    not a MemoryError traceback; the same process reads an ordinary json first (the honest case)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    (tmp_path / "images").mkdir()
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    big = tmp_path / "big.json"
    with open(big, "w") as f:  # 160 MB: over the limit set below
        f.write('{"info": {"pad": "' + "a" * 160_000_000 + '"}, "images": [], "annotations": [], "categories": []}')
    code = f"""
import resource, sys
sys.path.insert(0, {str(ROOT)!r})
from detector.data.coco_index import index_coco
print(len(index_coco({str(tmp_path / 'images')!r}, {str(small)!r}, "val")[0]))
vm = int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmSize:"))) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 120 * 2**20, resource.RLIM_INFINITY))
try:
    index_coco({str(tmp_path / 'images')!r}, {str(big)!r}, "val")
except ValueError as e:
    print("error:", e)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "0"
    assert lines[1].startswith(f"error: {big}: cannot read COCO annotations: does not fit in the memory available")
