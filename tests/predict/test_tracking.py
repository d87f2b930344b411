"""Tracking: the settings (Ultralytics' keys mapped onto Roboflow's trackers), ids kept through a crossing by
every shipped tracker, Detector.track on a video and frame by frame (persist), detect.py --track writing
MOTChallenge files, ids in the JSON and counts, and the supervision view."""
import json
import warnings

import cv2
import numpy as np
import pytest
import torch

from detector.predict import Detector
from detector.predict.tracking import TRACKERS, Tracker, TrackLog, crosses, load_tracker_config

from ..tools.conftest import small_ckpt, tool  # noqa: F401  (a fixture and a helper)

pytest.importorskip("trackers", reason="tracking needs the 'track' extra (pip install '.[track]')")
warnings.filterwarnings("ignore", message=".*frame.*")  # ByteTrack warns when handed a frame it does not use


def _crossing(f: int) -> np.ndarray:
    """Two people walking towards each other and past, overlapping for a few frames (IoU up to ~0.6)."""
    return np.array([[20 + 6 * f, 100, 60 + 6 * f, 180], [280 - 6 * f, 115, 320 - 6 * f, 195]], np.float32)


@pytest.mark.parametrize("name", ["bytetrack", "botsort", "ocsort", "sort"])
def test_every_tracker_keeps_both_ids_through_a_crossing(name):
    tr = Tracker(load_tracker_config(name), 30)
    seen = {0: [], 1: []}
    for f in range(40):
        idx, ids = tr.update(_crossing(f), np.array([0.9, 0.8]), np.array([0, 0]), np.zeros((240, 320, 3), np.uint8))
        for i, k in zip(idx, ids):
            seen[int(i)].append(int(k))
    assert len(seen[0]) >= 35 and len(seen[1]) >= 35  # confirmed after at most a few frames, then every frame
    assert len(set(seen[0])) == 1 and len(set(seen[1])) == 1 and seen[0][0] != seen[1][0]
    assert min(seen[0] + seen[1]) == 1  # ids from 1, as MOTChallenge files number them


def test_settings_take_ultralytics_keys_and_refuse_unknown_ones(tmp_path):
    tr = Tracker(load_tracker_config("bytetrack"), 25)
    assert tr.kwargs == {"frame_rate": 25.0, "high_conf_det_threshold": 0.25, "track_activation_threshold": 0.25,
                         "lost_track_buffer": 30, "minimum_iou_threshold": 0.2}  # match_thresh 0.8 = 1 - IoU
    assert Tracker({"tracker_type": "botsort", "gmc_method": "none"}).kwargs["enable_cmc"] is False
    assert Tracker({"tracker_type": "sort", "minimum_consecutive_frames": 1}).kwargs["minimum_consecutive_frames"] == 1
    bad = tmp_path / "t.yaml"
    bad.write_text("tracker_type: bytetrack\ntrack_bufer: 60\n")
    with pytest.raises(ValueError, match=r"t.yaml: unknown key 'track_bufer' for bytetrack; did you mean 'track_buffer'"):
        Tracker(load_tracker_config(bad))
    bad.write_text("tracker_type: deepsort\n")
    with pytest.raises(ValueError, match="unknown tracker 'deepsort'"):
        load_tracker_config(bad)
    with pytest.raises(ValueError, match="not a tracker"):
        load_tracker_config("no_such_tracker")
    assert TRACKERS.names() == ["bytetrack", "botsort", "ocsort", "sort"]


def test_boxes_below_the_low_threshold_never_reach_the_tracker():
    tr = Tracker({"tracker_type": "sort", "track_low_thresh": 0.5, "minimum_consecutive_frames": 1})
    for f in range(5):
        idx, ids = tr.update(_crossing(f), np.array([0.9, 0.3]), np.array([0, 1]))
    assert idx.tolist() == [0] and len(ids) == 1


def test_track_log_writes_motchallenge_rows_and_counts(tmp_path):
    log = TrackLog()
    log.add(1, np.array([[10, 20, 50, 100.5]]), np.array([0.91]), np.array([0]), np.array([3]))
    log.add(2, np.array([[12, 20, 52, 100.5], [0, 0, 5, 5]]), np.array([0.9, 0.4]), np.array([0, 2]), np.array([3, 4]))
    assert log.mot_text().splitlines() == ["1,3,10.00,20.00,40.00,80.50,0.9100,-1,-1,-1",
                                           "2,3,12.00,20.00,40.00,80.50,0.9000,-1,-1,-1",
                                           "2,4,0.00,0.00,5.00,5.00,0.4000,-1,-1,-1"]
    assert log.counts({0: "person", 2: "car"}) == {"person": 1, "car": 1}
    assert list(log.trails[3]) == [(30.0, 60.25), (32.0, 60.25)]
    # streamed: the same rows go to a temp file as they come, none kept in memory, the file complete at close
    sink = tmp_path / "tracks" / "seq.txt"
    streamed = TrackLog(sink=sink)
    streamed.add(1, np.array([[10, 20, 50, 100.5]]), np.array([0.91]), np.array([0]), np.array([3]))
    streamed.add(2, np.array([[12, 20, 52, 100.5], [0, 0, 5, 5]]), np.array([0.9, 0.4]), np.array([0, 2]),
                 np.array([3, 4]))
    assert streamed.rows == [] and not sink.exists() and len(list(sink.parent.iterdir())) == 1  # the temp file
    assert streamed.close() == sink and sink.read_text() == log.mot_text()
    assert sorted(q.name for q in sink.parent.iterdir()) == ["seq.txt"]


def test_line_crossings_are_counted_by_direction():
    line = (100, 0, 100, 200)  # a vertical line, drawn downwards
    assert crosses(line, (90, 50), (110, 50)) == -crosses(line, (110, 50), (90, 50)) != 0
    assert crosses(line, (90, 250), (110, 250)) == 0  # past the segment's end
    assert crosses(line, (90, 50), (95, 60)) == 0
    assert abs(crosses(line, (90, 50), (100, 50)) + crosses(line, (100, 50), (110, 50))) == 1  # onto it, off it: once
    log = TrackLog(line=line)
    for f in range(10):  # track 1 walks right across it, track 2 left, track 3 stays on one side
        boxes = np.array([[60 + 10 * f, 40, 80 + 10 * f, 80], [140 - 10 * f, 90, 160 - 10 * f, 130],
                          [10, 10, 20, 20]], np.float32)
        log.add(f + 1, boxes, np.ones(3), np.array([0, 0, 1]), np.array([1, 2, 3]))
    counts = log.line_counts({0: "person", 1: "car"})
    assert counts["person"]["in"] + counts["person"]["out"] == 2 and counts["person"]["in"] == 1
    assert "car" not in counts


class _Squares:
    """A stand-in predictor that 'detects' the white squares of a frame (connected components)."""
    stride, img, needs_warmup = 32, 320, False

    def __init__(self, options):
        self.options = options

    def preprocess(self, images):
        return images, [{"orig_shape": im.shape[:2]} for im in images]

    def forward(self, x):
        return x

    def sync(self):
        pass

    def postprocess(self, images):
        out = []
        for im in images:
            n, _, stats, _ = cv2.connectedComponentsWithStats((im[:, :, 0] > 0).astype(np.uint8))
            out.append(torch.tensor([[x, y, x + w, y + h, 0.9, 0, 0] for x, y, w, h, _ in stats[1:]],
                                    dtype=torch.float32).reshape(-1, 7))
        return out

    def to_original(self, dets, metas):
        return dets


def _frames(n=30):
    for f in range(n):
        img = np.zeros((240, 320, 3), np.uint8)
        for x1, y1, x2, y2 in _crossing(f).astype(int):
            img[y1:y2, max(x1, 0):x2] = 255
        yield img


def _stub_detector(small_ckpt):
    det = Detector(small_ckpt, img=320)
    det.predictor = _Squares(det.predictor.options)
    return det


def test_detector_track_on_a_video_and_frame_by_frame(small_ckpt, tmp_path):
    video = tmp_path / "walk.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    frames = [np.zeros((240, 320, 3), np.uint8) for _ in range(20)]
    for f, img in enumerate(frames):
        for x1, y1, x2, y2 in _crossing(f).astype(int)[:1]:  # one square, apart: the video codec blurs edges
            img[y1:y2, x1:x2] = 255
        w.write(img)
    w.release()
    det = _stub_detector(small_ckpt)
    res = list(det.track(str(video), "bytetrack"))
    assert len(res) == 20 and det.predictor.options.conf_thres == pytest.approx(0.1)  # tracking's low threshold
    ids = {int(i) for r in res for i in (r.track_ids if r.track_ids is not None else [])}
    assert ids == {1}
    # frame by frame with persist (Ultralytics' persist=True): the state carries over between calls
    det = _stub_detector(small_ckpt)
    per = [det.track(img, "sort") for img in frames]
    assert {int(i) for r in per[5:] for i in r.track_ids} == {1}
    fresh = det.track(frames[10], "sort", persist=False)  # a new tracker: nothing confirmed yet on its first frame
    assert len(fresh) == 0 or fresh.track_ids.tolist() == [1]
    sv_dets = per[-1].to_supervision()
    assert sv_dets.tracker_id.tolist() == per[-1].track_ids.tolist() and len(sv_dets) == len(per[-1])
    assert sv_dets.data["class_name"].tolist() == per[-1].labels


def test_tracker_yaml_nms_applies_only_when_no_method_is_given(small_ckpt, tmp_path):
    cfg = tmp_path / "bt.yaml"
    cfg.write_text("tracker_type: bytetrack\nnms: soft\n")
    settings = load_tracker_config(cfg)
    assert "nms" not in Tracker(settings).kwargs  # ours, not the library's
    det = Detector(small_ckpt, img=320)
    default = det.nms
    note = det.use_tracker_settings(settings)
    assert det.nms == "soft" and det.predictor.options.conf_thres == pytest.approx(0.1)
    assert "NMS soft" in note and "bt.yaml" in note and default != "soft"
    given = Detector(small_ckpt, img=320, nms="greedy", conf_thres=0.3)
    assert given.use_tracker_settings(settings) == "" and given.nms == "greedy"
    assert given.predictor.options.conf_thres == pytest.approx(0.3)
    plain = Detector(small_ckpt, img=320)
    plain.use_tracker_settings(load_tracker_config({"tracker_type": "sort"}))
    assert plain.nms == default  # a tracker YAML without nms leaves the model's method
    shipped = Detector(small_ckpt, img=320)
    shipped.use_tracker_settings(load_tracker_config("bytetrack"))  # the default tracker asks for Soft-NMS
    assert shipped.nms == "soft" and "nms" not in load_tracker_config("botsort")
    cfg.write_text("tracker_type: bytetrack\nnms: sofft\n")
    with pytest.raises(ValueError, match=r"bt.yaml: nms 'sofft' is not an NMS method"):
        load_tracker_config(cfg)


def test_detect_cli_tracks_a_folder_of_frames(small_ckpt, tmp_path, capsys):
    seq = tmp_path / "MOT-demo" / "img1"
    seq.mkdir(parents=True)
    for f, img in enumerate(_frames(12)):
        cv2.imwrite(str(seq / f"{f + 1:06d}.jpg"), img)
    detect = tool("detect")
    out = tmp_path / "runs"
    rc = detect.main(["--weights", str(small_ckpt), "--source", str(seq), "--img", "128", "--track", "--save-json",
                      "--project", str(out), "--name", "t"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "tracks in MOT-demo:" in text
    mot = out / "t" / "tracks" / "MOT-demo.txt"
    rows = [r.split(",") for r in mot.read_text().splitlines()]
    assert all(len(r) == 10 and r[7:] == ["-1", "-1", "-1"] and 1 <= int(r[0]) <= 12 for r in rows)
    counts = json.loads((out / "t" / "tracks" / "counts.json").read_text())
    assert set(counts) == {"MOT-demo"} and set(counts["MOT-demo"]) == {"tracks"}
    preds = json.loads((out / "t" / "predictions.json").read_text())
    assert len(preds) == len(rows) and all("track_id" in p for p in preds)
    other = tmp_path / "MOT-other" / "img1"  # a glob over two sequences: each its own tracker and file
    other.mkdir(parents=True)
    for f, img in enumerate(_frames(3)):
        cv2.imwrite(str(other / f"{f + 1:06d}.jpg"), img)
    assert detect.main(["--weights", str(small_ckpt), "--source", str(tmp_path / "MOT-*" / "img1" / "*.jpg"), "--img",
                        "128", "--track", "sort", "--nosave", "--count-line", "160", "0", "160", "240",
                        "--project", str(out), "--name", "two"]) == 0
    assert "crossing the line:" in capsys.readouterr().out
    assert set(json.loads((out / "two" / "tracks" / "counts.json").read_text())["MOT-demo"]) == {"tracks", "line"}
    assert sorted(p.name for p in (out / "two" / "tracks").iterdir()) == ["MOT-demo.txt", "MOT-other.txt", "counts.json"]
    assert detect.main(["--weights", str(small_ckpt), "--source", str(seq), "--track", "deepsort",
                        "--project", str(out), "--name", "bad"]) == 2
    assert "not a tracker" in capsys.readouterr().err
    assert detect.main(["--weights", str(small_ckpt), "--source", str(seq), "--count-line", "0", "0", "1", "1",
                        "--project", str(out), "--name", "bad2"]) == 2
    assert "--count-line counts tracks: add --track" in capsys.readouterr().err
