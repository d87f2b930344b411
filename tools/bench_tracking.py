#!/usr/bin/env python3
"""Tracking, measured: trackers x NMS methods with our checkpoints, beside Ultralytics' ``yolo track`` with its
own checkpoints, on a MOTChallenge-layout task with ground truth (tools/make_tracks.py), all scored by the
same TrackEval evaluator (detector/eval/tracking.py): HOTA, IDF1, MOTA, id switches; and end-to-end frames
per second (decode, detector, tracker, MOT file; no drawing) on this machine.

Both tools run through their command lines on the same lossless videos of the sequences (FFV1, made here
from the frames), one process for all sequences; FPS = frames / (wall time - the wall time of the same
command on a one-frame video), so start-up and model loading are left out alike.

  python tools/make_tracks.py --out datasets/people_tracks
  python tools/bench_tracking.py --gt datasets/people_tracks --weights runs/ablate/crowd_track/runs/*/weights/last.pt \\
      --trackers bytetrack botsort ocsort sort --nms greedy@0.5 greedy@0.7 soft adaptive_soft --img 320 \\
      --peer yolo11n=runs/.../yolo11n/weights/last.pt --peer-trackers bytetrack botsort \\
      --yolo /tmp/yardstick/bin/yolo --out runs/bench_tracking

One table over several finished benchmarks (e.g. one per seed), every run rescored from its MOT files with
today's metrics, FPS as measured:

  python tools/bench_tracking.py --gt datasets/people_tracks --report runs/bench_tracking runs/bench_tracking_s1 \
      --out runs/bench_tracking_all
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.ablation.stats import summarize  # noqa: E402
from detector.eval.tracking import score_tracks  # noqa: E402
from detector.utils.io import write_json, write_text  # noqa: E402
from detector.utils.timing import machine_line  # noqa: E402

COLS = ("HOTA", "IDF1", "MOTA", "AssA", "DetA", "IDSW", "IDSW_cross", "TP")


def make_videos(gt: Path, out: Path, fps: int = 25) -> tuple[list[Path], Path, int]:
    """Each ``<gt>/<seq>/img1`` as ``out/<seq>.avi`` (FFV1, lossless), a one-frame ``probe`` video beside
    them (for start-up time), and the total number of frames."""
    out.mkdir(parents=True, exist_ok=True)
    videos, total = [], 0
    for seq in sorted(p.parent for p in gt.glob("*/img1")):
        frames = sorted((seq / "img1").glob("*.jpg"))
        v = out / f"{seq.name}.avi"
        if not v.is_file():
            _write_video(v, frames, fps)
        videos.append(v)
        total += len(frames)
    probe = out / "probe" / "probe.avi"
    if not probe.is_file():
        probe.parent.mkdir(exist_ok=True)
        _write_video(probe, sorted((gt / videos[0].stem / "img1").glob("*.jpg"))[:1], fps)
    return videos, probe, total


def _write_video(path: Path, frames: list[Path], fps: int) -> None:
    first = cv2.imread(str(frames[0]))
    h, w = first.shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    if not wr.isOpened():
        raise OSError(f"{path}: OpenCV cannot write FFV1 video here")
    for f in frames:
        wr.write(cv2.imread(str(f)))
    wr.release()


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(r.stderr or r.stdout)[-2000:]}")
    return time.perf_counter() - t0


def ours_cmd(weights: str, source: str, tracker: str, nms: str, img: int, project: Path, name: str) -> list[str]:
    method, _, iou = nms.partition("@")
    cmd = [sys.executable, str(ROOT / "tools" / "detect.py"), "--weights", weights, "--source", source, "--track", tracker,
           "--nms", method, "--img", str(img), "--nosave", "--device", "cpu", "--project", str(project), "--name", name,
           "--exist-ok"]
    return cmd + (["--iou-thres", iou] if iou else [])


def peer_cmd(yolo: str, weights: str, source: str, tracker: str, img: int, project: Path, name: str) -> list[str]:
    return [yolo, "track", f"model={weights}", f"source={source}", f"tracker={tracker}.yaml", f"imgsz={img}",
            "save=False", "save_txt=True", "save_conf=True", "device=cpu", f"project={project.resolve()}", f"name={name}",
            "exist_ok=True", "verbose=False"]


def peer_to_mot(labels: Path, gt: Path, seqs: list[str], out: Path) -> None:
    """Ultralytics' ``labels/<video>_<frame>.txt`` (class cx cy w h conf id, normalised) -> ``out/<seq>.txt``
    MOTChallenge rows; boxes without a track id are not part of a track and are left out, as in its video."""
    out.mkdir(parents=True, exist_ok=True)
    for seq in seqs:
        im = cv2.imread(str(next((gt / seq / "img1").glob("*.jpg"))))
        h, w = im.shape[:2]
        rows = []
        for f in sorted(labels.glob(f"{seq}_*.txt"), key=lambda p: int(p.stem.rsplit("_", 1)[1])):
            frame = int(f.stem.rsplit("_", 1)[1])
            for line in f.read_text().splitlines():
                v = line.split()
                if len(v) < 7:
                    continue
                cx, cy, bw, bh = float(v[1]) * w, float(v[2]) * h, float(v[3]) * w, float(v[4]) * h
                rows.append(f"{frame},{int(float(v[6]))},{cx - bw / 2:.2f},{cy - bh / 2:.2f},{bw:.2f},{bh:.2f},{float(v[5]):.4f},-1,-1,-1")
        write_text(out / f"{seq}.txt", "\n".join(rows) + ("\n" if rows else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt", required=True, help="tracking task root: <seq>/img1, <seq>/gt/gt.txt")
    ap.add_argument("--weights", nargs="*", default=[], help="our checkpoints (one per seed)")
    ap.add_argument("--trackers", nargs="+", default=["bytetrack", "botsort", "ocsort", "sort"])
    ap.add_argument("--nms", nargs="+", default=["greedy@0.5", "greedy@0.7", "soft", "adaptive_soft"],
                    help="NMS methods, METHOD or METHOD@IOU")
    ap.add_argument("--peer", nargs="*", default=[], metavar="NAME=PATH", help="Ultralytics checkpoints (one per seed)")
    ap.add_argument("--peer-trackers", nargs="+", default=["bytetrack", "botsort"])
    ap.add_argument("--yolo", default=None, help="the yolo executable of a separate Ultralytics environment")
    ap.add_argument("--img", type=int, default=640)
    ap.add_argument("--out", default="runs/bench_tracking")
    ap.add_argument("--report", nargs="+", metavar="DIR", help="run nothing: rescore the runs of these finished "
                    "benchmarks (their tracking.json and MOT files) and write one table to --out")
    a = ap.parse_args(argv)
    gt, out = Path(a.gt), Path(a.out)
    if a.report:
        return report(gt, [Path(d) for d in a.report], out)
    videos, probe, frames = make_videos(gt, out / "videos")
    seqs = [v.stem for v in videos]
    source = str(out / "videos" / "*.avi")
    runs: dict[str, list[dict]] = {}

    def record(key: str, pred: Path, wall: float, start: float, who: str) -> None:
        s = score_tracks(gt, pred, seqs)
        s = s.get("COMBINED_SEQ") or s[seqs[0]]
        r = {k: s[k] for k in COLS} | {"fps": frames / max(wall - start, 1e-6), "wall_s": wall, "start_s": start,
                                        "weights": who, "tracks": str(pred)}
        runs.setdefault(key, []).append(r)
        print(f"{key} [{who}]: " + " ".join(f"{k} {r[k]:.3f}" for k in COLS) + f" | {r['fps']:.1f} FPS", flush=True)

    for w in a.weights:
        for tracker in a.trackers:
            for nms in a.nms:
                name = ours_name(w, tracker, nms)
                start = _timed(ours_cmd(w, str(probe), tracker, nms, a.img, out / "probe_runs", name))
                wall = _timed(ours_cmd(w, source, tracker, nms, a.img, out / "runs", name))
                record(f"ours | {tracker} | {nms}", out / "runs" / name / "tracks", wall, start, w)
    for spec in a.peer:
        peer, _, w = spec.partition("=")
        if not a.yolo:
            raise SystemExit("--peer needs --yolo (the yolo executable of the Ultralytics environment)")
        for tracker in a.peer_trackers:
            name = peer_name(peer, w, tracker)
            start = _timed(peer_cmd(a.yolo, w, str(probe), tracker, a.img, out / "probe_runs", name))
            wall = _timed(peer_cmd(a.yolo, w, source, tracker, a.img, out / "runs", name))
            peer_to_mot(out / "runs" / name / "labels", gt, seqs, out / "runs" / name / "tracks")
            record(f"{peer} | {tracker} | its own", out / "runs" / name / "tracks", wall, start, w)
    write_tables(out, runs, f"Task: `{a.gt}` ({len(seqs)} sequences, {frames} frames); --img {a.img}", vars(a))
    return 0


def ours_name(weights: str, tracker: str, nms: str) -> str:
    return f"ours-{Path(weights).parent.parent.name}-{tracker}-{nms}"


def peer_name(peer: str, weights: str, tracker: str) -> str:
    return f"{peer}-{Path(weights).parent.parent.parent.name}-{tracker}"


def _tracks(out: Path, key: str, r: dict) -> Path:
    """Where a recorded run's MOT files are (recorded since IDSW_cross; derived from the names before)."""
    if "tracks" in r:
        return Path(r["tracks"])
    who, tracker, nms = key.split(" | ")
    name = ours_name(r["weights"], tracker, nms) if who == "ours" else peer_name(who, r["weights"], tracker)
    return out / "runs" / name / "tracks"


def report(gt: Path, dirs: list[Path], out: Path) -> int:
    """Every run of the finished benchmarks ``dirs`` rescored from its MOT files, FPS as recorded; one table."""
    runs: dict[str, list[dict]] = {}
    heads = []
    for d in dirs:
        rec = json.loads((d / "tracking.json").read_text())
        heads.append(f"`{d}` (--img {rec['args']['img']})")
        seqs = sorted(p.stem for p in (d / "videos").glob("*.avi"))
        for key, rs in rec["runs"].items():
            for r in rs:
                pred = _tracks(d, key, r)
                s = score_tracks(gt, pred, seqs)
                s = s.get("COMBINED_SEQ") or s[seqs[0]]
                runs.setdefault(key, []).append({**r, **{k: s[k] for k in COLS}, "tracks": str(pred)})
    write_tables(out, runs, f"Task: `{gt}`; rescored runs of " + ", ".join(heads), {"report": [str(d) for d in dirs]})
    return 0


def write_tables(out: Path, runs: dict[str, list[dict]], head: str, args: dict) -> None:
    """tracking.md / .json; "per 1000 matches": id switches in crossings per 1000 matched boxes (CLEAR's true
    positives), so that a detector that finds fewer people is not credited with fewer switches."""
    shown = ("HOTA", "IDF1", "MOTA", "AssA", "DetA", "IDSW", "IDSW_cross", "cross_rate", "fps")
    lines = [f"{head}; mean ± std over checkpoints (one per seed); {machine_line()}", "",
             "| detector | tracker | NMS | HOTA | IDF1 | MOTA | AssA | DetA | id switches | in crossings "
             "| per 1000 matches | FPS (end to end) | n |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, rs in runs.items():
        for r in rs:
            if r.get("TP"):
                r["cross_rate"] = 1000 * r["IDSW_cross"] / r["TP"]
        cells = []
        for k in shown:
            s = summarize([r[k] for r in rs if k in r])
            scale = 100 if k not in ("IDSW", "IDSW_cross", "cross_rate", "fps") else 1
            d = 0 if k in ("IDSW", "IDSW_cross") else 1
            cells.append("—" if s.n == 0 else f"{scale * s.mean:.{d}f}" + (f" ± {scale * s.std:.{d}f}" if s.n > 1 else ""))
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {len(rs)} |")
    md = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "tracking.md", md)
    write_json(out / "tracking.json", {"args": args, "runs": runs})
    print(md)


if __name__ == "__main__":
    sys.exit(main())
