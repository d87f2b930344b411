"""tools/bench_tracking.py's reading of Ultralytics' ``yolo track`` text output into MOTChallenge rows, and
its lossless videos of a task's sequences (the same frames for both tools)."""
import cv2
import numpy as np

from .conftest import tool


def _task(root, seqs=("SEQ-01",), n=3, w=64, h=48):
    for s in seqs:
        (root / s / "img1").mkdir(parents=True)
        for i in range(1, n + 1):
            cv2.imwrite(str(root / s / "img1" / f"{i:06d}.jpg"), np.full((h, w, 3), 40 * i, np.uint8))


def test_peer_labels_become_mot_rows_in_pixels_untracked_boxes_left_out(tmp_path):
    bt = tool("bench_tracking")
    _task(tmp_path / "gt")
    lab = tmp_path / "labels"
    lab.mkdir()
    (lab / "SEQ-01_1.txt").write_text("0 0.5 0.5 0.25 0.5 0.9 3\n0 0.1 0.1 0.1 0.1 0.05\n")  # the second: no id
    (lab / "SEQ-01_10.txt").write_text("0 0.25 0.25 0.5 0.5 0.8 7\n")
    (lab / "SEQ-01_2.txt").write_text("")
    bt.peer_to_mot(lab, tmp_path / "gt", ["SEQ-01"], tmp_path / "mot")
    rows = (tmp_path / "mot" / "SEQ-01.txt").read_text().splitlines()
    assert rows == ["1,3,24.00,12.00,16.00,24.00,0.9000,-1,-1,-1",   # frames in number order (1, 2, 10)
                    "10,7,0.00,0.00,32.00,24.00,0.8000,-1,-1,-1"]


def test_videos_are_lossless_and_a_probe_has_one_frame(tmp_path):
    bt = tool("bench_tracking")
    _task(tmp_path / "gt", seqs=("A", "B"), n=4)
    videos, probe, total = bt.make_videos(tmp_path / "gt", tmp_path / "v")
    assert [v.name for v in videos] == ["A.avi", "B.avi"] and total == 8
    cap = cv2.VideoCapture(str(videos[1]))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    src = [cv2.imread(str(p)) for p in sorted((tmp_path / "gt" / "B" / "img1").glob("*.jpg"))]
    assert len(frames) == 4 and all(np.array_equal(a, b) for a, b in zip(frames, src))
    cap = cv2.VideoCapture(str(probe))
    assert cap.read()[0] and not cap.read()[0]


def test_tables_give_mean_and_spread_and_crossing_switches_per_match(tmp_path):
    bt = tool("bench_tracking")
    run = {"HOTA": 0.25, "IDF1": 0.3, "MOTA": 0.2, "AssA": 0.3, "DetA": 0.2, "IDSW": 40, "IDSW_cross": 30, "TP": 1500,
           "fps": 20.0}
    runs = {"ours | bytetrack | soft": [run, {**run, "HOTA": 0.27, "IDSW_cross": 10, "TP": 1000, "fps": 22.0}],
            "peer | botsort | its own": [{**run, "TP": 0}]}  # no matches: no rate, not a division by zero
    bt.write_tables(tmp_path, runs, "Task", {})
    rows = (tmp_path / "tracking.md").read_text().splitlines()
    ours = next(r for r in rows if r.startswith("| ours"))
    assert "| 26.0 ± 1.4 |" in ours and "| 20 ± 14 |" in ours and "| 15.0 ± 7.1 |" in ours and ours.endswith("| 2 |")
    assert next(r for r in rows if r.startswith("| peer")).endswith("| 30 | — | 20.0 | 1 |")
