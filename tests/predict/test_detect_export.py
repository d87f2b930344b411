"""detect.py on real images, bad files and a generated video; --save-txt/--save-json; ONNX export
and the ONNX path giving the same detections as the checkpoint."""
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from detector import Detector
from detector.data.image_io import read_image
from detector.checkpoint import save_checkpoint
from detector.data.transforms import scale_to_original

from ..conftest import ROOT, busy_checkpoint

FIX = ROOT / "tests" / "fixtures" / "coco_mini" / "images" / "train2017"
DETECT = [sys.executable, str(ROOT / "tools" / "detect.py")]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return busy_checkpoint(tmp_path_factory.mktemp("ck") / "m.pt")


def run(*args):
    return subprocess.run([*DETECT, *map(str, args)], capture_output=True, text=True)


def test_folder_with_bad_files(ckpt, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for f in sorted(FIX.glob("*.jpg"))[:3]:
        shutil.copy(f, src)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    (src / "notes.txt").write_text("hello")
    r = run("--weights", ckpt, "--source", src, "--img", "160", "--project", tmp_path, "--name", "out",
            "--max-det", "20", "--save-txt", "--save-json")
    assert r.returncode == 1, r.stderr[-2000:]
    assert "skipped" in r.stdout and "broken.jpg" in r.stdout and "notes.txt" in r.stdout
    assert "inputs: 3 image(s)" in r.stdout and "speed:" in r.stdout
    out = tmp_path / "out"
    for f in sorted(FIX.glob("*.jpg"))[:3]:
        assert (out / f.name).is_file() and (out / "labels" / f"{f.stem}.txt").is_file()
    # --save-txt and --save-json carry the same boxes, in original pixels, as the Python API
    preds = json.loads((out / "predictions.json").read_text())
    det = Detector(ckpt, img=160, max_det=20, nms="greedy")
    for f in sorted(FIX.glob("*.jpg"))[:3]:
        img = cv2.imread(str(f))
        h, w = img.shape[:2]
        d = det.predict(str(f))
        rows = [p for p in preds if p["file_name"] == f.name]
        assert len(rows) == len(d) == 20
        np.testing.assert_allclose([p["bbox"] for p in rows],
                                   np.c_[d.boxes[:, :2], d.boxes[:, 2:] - d.boxes[:, :2]], atol=1e-3)
        assert [p["category_id"] for p in rows] == [[1, 5, 9][c] for c in d.classes]
        assert rows[0]["image_id"] == int(f.stem)
        np.testing.assert_allclose([p["density"] for p in rows], d.densities, atol=1e-6)  # adaptive NMS's input
        txt = np.loadtxt(out / "labels" / f"{f.stem}.txt", ndmin=2)
        xyxy = np.c_[(txt[:, 1] - txt[:, 3] / 2) * w, (txt[:, 2] - txt[:, 4] / 2) * h,
                     (txt[:, 1] + txt[:, 3] / 2) * w, (txt[:, 2] + txt[:, 4] / 2) * h]
        np.testing.assert_allclose(xyxy, d.boxes, atol=0.01 * max(w, h) / 100 + 1e-3)
        assert d.boxes[:, [0, 2]].max() <= w and d.boxes[:, [1, 3]].max() <= h
    r2 = run("--weights", ckpt, "--source", src, "--img", "160", "--project", tmp_path, "--name", "out")
    assert r2.returncode == 1 and (tmp_path / "out2").is_dir()  # nothing overwritten without --exist-ok


def test_missing_source_exit_2(ckpt, tmp_path):
    r = run("--weights", ckpt, "--source", tmp_path / "nope", "--project", tmp_path)
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and "no such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_video_keeps_frames_fps_size(ckpt, tmp_path):
    vid = tmp_path / "clip.mp4"
    wr = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(9):
        wr.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    wr.release()
    r = run("--weights", ckpt, "--source", vid, "--img", "128", "--project", tmp_path, "--name", "v")
    assert r.returncode == 0, r.stderr[-2000:]
    cap = cv2.VideoCapture(str(tmp_path / "v" / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 9
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (160, 120)
    # a truncated video: the frames read are processed and saved, with a message
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(vid.read_bytes()[: vid.stat().st_size * 2 // 3])
    r = run("--weights", ckpt, "--source", bad, "--img", "128", "--project", tmp_path, "--name", "c")
    assert "cut.mp4" in r.stdout


def test_onnx_export_matches_and_detects_the_same(ckpt, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "export.py"), "--weights", str(ckpt), "--img", "160",
                        "--output", str(out), "--image", str(next(FIX.glob("*.jpg")))], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    diff = float(r.stdout.split("max abs difference ")[1].split()[0])
    assert diff < 1e-4
    files = sorted(str(f) for f in FIX.glob("*.jpg"))
    a = Detector(ckpt, img=160, max_det=10000, rect=False, device="cpu").predict(files)  # a static export is square
    b = Detector(out, img=160, max_det=10000).predict(files)

    def canon(d):  # boxes in padding get equal scores: compare in a canonical order
        k = np.lexsort((d.boxes[:, 3].round(2), d.boxes[:, 2].round(2), d.boxes[:, 1].round(2), d.boxes[:, 0].round(2),
                        d.classes))
        return d.classes[k], d.boxes[k], d.scores[k]

    for x, y in zip(a, b):
        (cx, bx, sx), (cy, by, sy) = canon(x), canon(y)
        assert len(x) > 20 and cx.tolist() == cy.tolist()
        np.testing.assert_allclose(bx, by, atol=1e-2)
        np.testing.assert_allclose(sx, sy, atol=1e-4)
    assert b[0].names == {0: "a", 1: "b", 2: "c"}


def test_rect_inference_shapes_and_mapping(ckpt):
    """Rectangular inference pads a batch only to the stride: a 640x480 frame runs at 640x480, a
    batch takes the smallest shape that holds all; boxes still map back to original pixels, and a
    square image gives exactly what square inference gives."""
    det = Detector(ckpt, img=640)
    land, port = np.zeros((480, 640, 3), np.uint8), np.zeros((640, 480, 3), np.uint8)
    assert det.input_shape([land]) == (480, 640) and det.input_shape([port]) == (640, 480)
    assert det.input_shape([land, port]) == (640, 640)
    assert det.input_shape([np.zeros((333, 500, 3), np.uint8)]) == (448, 640)  # 426 px rounded up to 32
    det.img = 320
    x, metas = det.preprocess([np.zeros((333, 500, 3), np.uint8)])
    assert tuple(x.shape) == (1, 3, 224, 320)
    centre = scale_to_original(torch.tensor([[160.0, 111.5, 160.0, 111.5]]), metas[0])  # 5 px pad on top
    torch.testing.assert_close(centre, torch.tensor([[250.0, 166.5, 250.0, 166.5]]), atol=0.01, rtol=0)
    assert Detector(ckpt, img=160, rect=False).input_shape([land]) == (160, 160)

    img = read_image(next(FIX.glob("*.jpg")))
    h, w = img.shape[:2]
    d = Detector(ckpt, img=160, max_det=10000).predict(img)
    assert len(d) > 20 and d.shape == (h, w)
    assert (d.boxes[:, [0, 2]] >= 0).all() and (d.boxes[:, [0, 2]] <= w).all()
    assert (d.boxes[:, [1, 3]] >= 0).all() and (d.boxes[:, [1, 3]] <= h).all()
    sq = cv2.resize(img, (300, 300))
    a = Detector(ckpt, img=160, max_det=10000).predict(sq)
    b = Detector(ckpt, img=160, max_det=10000, rect=False).predict(sq)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.classes, b.classes)


def test_dynamic_onnx_runs_rectangular_like_the_checkpoint(ckpt, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "d.onnx"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "export.py"), "--weights", str(ckpt), "--img", "160",
                        "--dynamic", "--output", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    img = read_image(next(FIX.glob("*.jpg")))
    a, b = Detector(ckpt, img=160, max_det=10000), Detector(out, img=160, max_det=10000)
    assert a.rect and b.rect and a.input_shape([img]) == b.input_shape([img]) != (160, 160)
    da, db = a.predict(img), b.predict(img)
    assert len(da) > 20 and len(da) == len(db)
    np.testing.assert_allclose(np.sort(da.boxes, 0), np.sort(db.boxes, 0), atol=1e-2)


def test_show_density_colours_boxes_by_density(ckpt, tmp_path):
    """--show-density draws each box in the colour of its predicted density (and prints d=...): the picture
    differs from the class-coloured one exactly where boxes are drawn."""
    from detector.utils.plots import density_color, draw_boxes

    f = sorted(FIX.glob("*.jpg"))[0]
    for flag, name in (([], "plain"), (["--show-density"], "dens")):
        r = run("--weights", ckpt, "--source", f, "--img", "160", "--project", tmp_path, "--name", name,
                "--max-det", "5", *flag)
        assert r.returncode == 0, r.stderr[-2000:]
    plain, dens = cv2.imread(str(tmp_path / "plain" / f.name)), cv2.imread(str(tmp_path / "dens" / f.name))
    assert plain.shape == dens.shape and (np.abs(plain.astype(int) - dens.astype(int)).sum(2) > 60).any()
    d = Detector(ckpt, img=160, max_det=5, nms="greedy").predict(str(f))
    img = read_image(f)
    ref = draw_boxes(img, d.boxes, d.classes, d.names, d.scores, densities=d.densities)
    assert np.abs(ref.astype(int) - dens.astype(int)).mean() < 3  # same drawing (JPEG round trip aside)
    assert density_color(0.0) != density_color(1.0)


def test_class_names_cannot_choose_where_crops_go(ckpt, tmp_path):
    """A checkpoint whose class is named '../../../x' (anyone's file) writes its crops inside the run."""
    from detector.checkpoint import load_checkpoint

    ck = load_checkpoint(ckpt)
    ck["names"] = ["../../../x", "/abs", ".."]
    evil = tmp_path / "evil.pt"
    save_checkpoint(evil, ck)
    f = sorted(FIX.glob("*.jpg"))[0]
    run_dir = tmp_path / "a" / "b" / "c"
    r = run("--weights", evil, "--source", f, "--img", "160", "--project", run_dir.parent, "--name", run_dir.name,
            "--max-det", "30", "--save-crop", "--nosave")
    assert r.returncode == 0, r.stderr[-2000:]
    crops = [p for p in tmp_path.rglob("*.jpg")]
    assert crops and all(run_dir / "crops" in p.parents for p in crops)
    assert {p.parent.name for p in crops} <= {"_.._.._x", "_abs", "2"}


def test_exit_codes_nothing_readable_is_2_a_truncated_video_is_1(ckpt, tmp_path):
    """A folder holding no image, a camera that is not there: nothing could run (2). A video cut short
    (frames lost): the frames read are saved, the loss is listed (1)."""
    empty = tmp_path / "notes"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    r = run("--weights", ckpt, "--source", empty, "--img", "64", "--project", tmp_path, "--name", "e")
    assert r.returncode == 2 and "no image or video frame could be read" in r.stderr, (r.returncode, r.stderr[-500:])
    r = run("--weights", ckpt, "--source", "9", "--img", "64", "--project", tmp_path, "--name", "cam")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    w = cv2.VideoWriter(str(tmp_path / "v.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for k in range(30):
        w.write(np.full((48, 64, 3), k * 8, np.uint8))
    w.release()
    data = (tmp_path / "v.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    r = run("--weights", ckpt, "--source", tmp_path / "cut.avi", "--img", "64", "--project", tmp_path, "--name", "v")
    assert r.returncode == 1, r.stderr[-1000:]
    assert "cut.avi" in r.stdout and "of its 30 frames" in r.stdout and (tmp_path / "v" / "cut.mp4").is_file()


def test_predict_accepts_unambiguous_arrays_and_names_the_rest(ckpt):
    """Gray, BGRA, channels-first, float in [0, 1] or [0, 255], uint16: the same detections as the BGR
    uint8 image they stand for (float in [0, 1] used to be divided by 255 again: a black picture). The
    rest: one ValueError naming the input."""
    det = Detector(ckpt, img=160, max_det=10, nms="greedy")
    bgr = read_image(sorted(FIX.glob("*.jpg"))[0])
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    ref, ref_gray = det.predict(bgr), det.predict(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    same = [bgr.astype(np.float32) / 255.0, bgr.astype(np.float64), bgr.transpose(2, 0, 1).copy(),
            cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), bgr.astype(np.uint16) * 257]
    for a in same:
        d = det.predict(a)
        np.testing.assert_allclose(d.boxes, ref.boxes, atol=1e-3)
        np.testing.assert_allclose(d.scores, ref.scores, atol=1e-4)
    for a in (gray, gray[:, :, None]):
        np.testing.assert_allclose(det.predict(a).boxes, ref_gray.boxes, atol=1e-3)
    assert det.predict([]) == []
    for bad, says in ((np.zeros((5,), np.uint8), "is not an image"), (bgr.astype(np.float32) * 2 - 300, "float values"),
                      (np.zeros((8, 8, 3), bool), "dtype bool"), (np.full((8, 8, 3), np.nan, np.float32), "NaN")):
        with pytest.raises(ValueError, match=says):
            det.predict(bad)
