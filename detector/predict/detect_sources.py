"""The work behind tools/detect.py: run a Detector over a source and write what users expect."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..utils.io import JsonArrayWriter, write_text
from ..utils.plots import draw_boxes
from .api import Detections, Detector
from ..data.image_io import read_image
from .sources import ImageReadError, Item, SourceError, VideoReader, resolve


@dataclass
class DetectOptions:
    save: bool = True
    save_txt: bool = False
    save_conf: bool = False
    save_json: bool = False
    save_crop: bool = False
    line_width: int | None = None
    hide_labels: bool = False
    hide_conf: bool = False
    batch: int = 1
    cat_ids: list[int] | None = None  # dataset category ids for --save-json (COCO ids)
    show_density: bool = False  # colour boxes by predicted crowd density and print it in the label
    track: dict | None = None  # tracker settings (detector.predict.tracking.load_tracker_config): --track
    count_line: tuple[float, float, float, float] | None = None  # --count-line: count tracks crossing it


@dataclass
class DetectReport:
    images: int = 0
    videos: int = 0
    frames: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    tracks: dict = field(default_factory=dict)  # sequence -> {class name: distinct track ids}


def safe_name(name: str, fallback: str) -> str:
    """A class name made safe as one folder name: path separators, ``..`` and other characters that
    could leave the run folder or trouble a file system become ``_`` (names come from checkpoints and
    ONNX metadata, which may be anyone's)."""
    s = re.sub(r"[^\w\- .]", "_", str(name)).strip(" .")
    return s or fallback


def image_names(paths: list[str]) -> tuple[list[str], list[int]]:
    """Per image: its name in the outputs (the path below the images' common folder, so that
    seq1/000001.jpg and seq2/000001.jpg stay two files: outputs mirror the sub-folders) and a unique
    integer image id (``int(stem)`` where the stem is a number no other image shares, else the next
    free number)."""
    if not paths:
        return [], []
    root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    rels = [Path(os.path.relpath(os.path.abspath(p), root)).as_posix() for p in paths]
    stems = [Path(p).stem for p in paths]
    count: dict = {}
    for st in stems:
        if st.isdigit():
            count[int(st)] = count.get(int(st), 0) + 1
    ids, used, nxt = [], {k for k, n in count.items() if n == 1}, 1
    for st in stems:
        if st.isdigit() and count[int(st)] == 1:
            ids.append(int(st))
            continue
        while nxt in used:
            nxt += 1
        ids.append(nxt)
        used.add(nxt)
    return rels, ids


def run_detect(det: Detector, source: str, save_dir: Path, opt: DetectOptions) -> DetectReport:
    items = resolve(source)
    rep = DetectReport()
    save_dir.mkdir(parents=True, exist_ok=True)
    json_rows = JsonArrayWriter(save_dir / "predictions.json") if opt.save_json else None  # rows streamed
    try:
        _run(det, items, save_dir, opt, rep, json_rows)
    except BaseException:
        if json_rows is not None:
            json_rows.discard()
        raise
    if json_rows is not None:
        rep.outputs.append(str(json_rows.close()))
    if rep.tracks:
        rep.outputs.append(str(write_text(save_dir / "tracks" / "counts.json", json.dumps(rep.tracks, indent=1))))
    return rep


def _run(det: Detector, items: list[Item], save_dir: Path, opt: DetectOptions, rep: DetectReport,
         json_rows: JsonArrayWriter | None) -> None:
    images = [it for it in items if it.kind == "image"]
    names, ids = image_names([it.path for it in images])
    out_name = {it.path: (n, i) for it, n, i in zip(images, names, ids)}
    rep.skipped += [(it.path, it.reason) for it in items if it.kind == "skip"]
    if opt.track is not None:  # frames in order, one tracker per sequence (folder)
        for seq, group in _sequences(images):
            _track_images(det, seq, group, out_name, save_dir, opt, rep, json_rows)
        images = []
    for start in tqdm(range(0, len(images), opt.batch), desc="images", disable=len(images) < 2, unit="batch"):
        chunk, arrays = [], []
        for it in images[start:start + opt.batch]:
            try:
                arrays.append(read_image(it.path))
                chunk.append(it)
            except ImageReadError as e:
                rep.skipped.append((it.path, str(e).split(": ", 1)[-1]))
        if not arrays:
            continue
        for it, img, d in zip(chunk, arrays, det.predict_arrays(arrays)):
            rep.images += 1
            rel, image_id = out_name[it.path]
            _outputs(it.path, rel, img, d, save_dir, opt, json_rows, image_id, rep)
    for it in [i for i in items if i.kind in ("video", "webcam")]:
        try:
            _video(det, it, save_dir, opt, rep, json_rows)
        except SourceError as e:
            rep.skipped.append((it.path, str(e).split(": ", 1)[-1]))


def _sequences(images: list[Item]) -> list[tuple[str, list[Item]]]:
    """Images grouped by folder, sorted by name: each folder is one sequence, named after it (the folder above
    ``img1/`` in MOTChallenge's layout)."""
    groups: dict[Path, list[Item]] = {}
    for it in images:
        groups.setdefault(Path(it.path).parent, []).append(it)
    out = []
    for folder, group in sorted(groups.items()):
        name = folder.parent.name if folder.name == "img1" and folder.parent.name else folder.name or "frames"
        out.append((safe_name(name, "frames"), sorted(group, key=lambda it: Path(it.path).name)))
    return out


class _SequenceTracker:
    """One sequence's tracker and log: boxes in, the tracked boxes (with ids) out; the MOT file at the end."""

    def __init__(self, name: str, settings: dict, fps: float, save_dir: Path, line=None):
        from .tracking import Tracker, TrackLog

        self.name, self.tracker, self.frame = name, Tracker(settings, fps), 0
        self.log = TrackLog(line=line, sink=save_dir / "tracks" / f"{name}.txt")  # rows streamed to the file

    def __call__(self, img: np.ndarray, d: Detections) -> Detections:
        self.frame += 1
        idx, ids = self.tracker.update(d.boxes, d.scores, d.classes, img)
        d = d.subset(idx)
        d.track_ids = ids
        self.log.add(self.frame, d.boxes, d.scores, d.classes, ids)
        return d

    def finish(self, names: dict, rep: DetectReport) -> None:
        """MOTChallenge txt (``frame,id,x,y,w,h,conf,-1,-1,-1``) and the distinct ids per class."""
        rep.outputs.append(str(self.log.close()))
        rep.tracks[self.name] = {"tracks": self.log.counts(names)}
        if self.log.line is not None:
            rep.tracks[self.name]["line"] = self.log.line_counts(names)

    def overlay(self, img: np.ndarray) -> np.ndarray:
        """The counting line and its running in/out totals drawn on a frame."""
        if self.log.line is None:
            return img
        x1, y1, x2, y2 = (int(round(v)) for v in self.log.line)
        cv2.line(img, (x1, y1), (x2, y2), (0, 255, 255), 2, cv2.LINE_AA)
        n_in = sum(v[0] for v in self.log.crossed.values())
        n_out = sum(v[1] for v in self.log.crossed.values())
        cv2.putText(img, f"in {n_in}  out {n_out}", (x1 + 4, max(y1 - 6, 14)), 0, 0.6, (0, 255, 255), 2, cv2.LINE_AA)
        return img


def _track_images(det: Detector, seq: str, group: list[Item], out_name: dict, save_dir: Path, opt: DetectOptions,
                  rep: DetectReport, json_rows: JsonArrayWriter | None) -> None:
    st = _SequenceTracker(seq, opt.track, 30.0, save_dir, opt.count_line)
    for it in tqdm(group, desc=seq, disable=len(group) < 2, unit="frame"):
        try:
            img = read_image(it.path)
        except ImageReadError as e:  # a missing frame: the tracker goes on (it predicts through gaps)
            rep.skipped.append((it.path, str(e).split(": ", 1)[-1]))
            continue
        rep.images += 1
        rel, image_id = out_name[it.path]
        _outputs(it.path, rel, img, st(img, det.predict_arrays([img])[0]), save_dir, opt, json_rows, image_id, rep,
                 trails=st.log.trails, overlay=st.overlay)
    st.finish(det.names, rep)


def _outputs(path, rel, img, d: Detections, save_dir, opt, json_rows, image_id, rep, frame=None, trails=None,
             overlay=None) -> np.ndarray:
    """``rel``: the image's output name (path below the inputs' common folder, or a video's stem)."""
    h, w = img.shape[:2]
    stem = str(Path(rel).with_suffix("")) if frame is None else rel
    name = stem if frame is None else f"{stem}_{frame}"
    if opt.save_txt:
        lines = []
        for b, c, s in zip(d.boxes, d.classes, d.scores):
            cx, cy, bw, bh = (b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h, (b[2] - b[0]) / w, (b[3] - b[1]) / h
            lines.append(f"{int(c)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}" + (f" {s:.5f}" if opt.save_conf else ""))
        write_text(save_dir / "labels" / f"{name}.txt", "\n".join(lines) + ("\n" if lines else ""))
    if json_rows is not None:
        dens = d.densities if d.densities is not None else [None] * len(d.boxes)
        tids = d.track_ids if d.track_ids is not None else [None] * len(d.boxes)
        for b, c, s, dn, tid in zip(d.boxes, d.classes, d.scores, dens, tids):
            cid = opt.cat_ids[int(c)] if opt.cat_ids else int(c)
            row = {"image_id": image_id, "file_name": rel if frame is None else Path(path).name,
                   **({"frame": frame} if frame is not None else {}),
                   "category_id": cid, "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                   "score": float(s)}
            if dn is not None:  # an extra key: COCO tools ignore it, val.py --pred reads it back
                row["density"] = float(dn)
            if tid is not None:
                row["track_id"] = int(tid)
            json_rows.append(row)
    if opt.save_crop:
        for k, (b, c) in enumerate(zip(d.boxes, d.classes)):
            x1, y1, x2, y2 = (int(round(v)) for v in b)
            crop = img[max(y1, 0):y2, max(x1, 0):x2]
            if crop.size:
                p = save_dir / "crops" / safe_name(d.names.get(int(c), ""), str(int(c))) / f"{name}_{k}.jpg"
                p.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(p), crop)
    dens = d.densities if opt.show_density and d.densities is not None else None
    drawn = draw_boxes(img, d.boxes, d.classes, d.names, d.scores, opt.line_width, opt.hide_labels, opt.hide_conf,
                       densities=dens, track_ids=d.track_ids, trails=trails)
    if overlay is not None:
        drawn = overlay(drawn)
    if opt.save and frame is None:
        out = save_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out), drawn):
            out = out.with_suffix(".jpg")
            cv2.imwrite(str(out), drawn)
        rep.outputs.append(str(out))
    return drawn


def _video(det: Detector, it: Item, save_dir: Path, opt: DetectOptions, rep: DetectReport, json_rows) -> None:
    reader = VideoReader(it.path)
    stem = "webcam" + it.path if it.path.isdigit() else Path(it.path).stem
    writer, out = None, save_dir / f"{stem}.mp4"
    st = (_SequenceTracker(safe_name(stem, "video"), opt.track, reader.fps or 30.0, save_dir, opt.count_line)
          if opt.track is not None else None)
    bar = tqdm(total=reader.frames or None, desc=Path(it.path).name, unit="frame")
    for k, frame in enumerate(reader):
        d = det.predict_arrays([frame])[0]
        if st is not None:
            d = st(frame, d)
        drawn = _outputs(it.path, stem, frame, d, save_dir, opt, json_rows, k, rep, frame=k,
                         trails=st.log.trails if st is not None else None, overlay=st.overlay if st else None)
        if opt.save:
            if writer is None:
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), reader.fps,
                                         (frame.shape[1], frame.shape[0]))
                if not writer.isOpened():
                    raise SourceError(f"{out}: cannot open a video writer (mp4v)")
            writer.write(drawn)
        rep.frames += 1
        bar.update(1)
    bar.close()
    if st is not None:
        st.finish(det.names, rep)
    if writer is not None:
        writer.release()
        rep.outputs.append(str(out))
    rep.videos += 1
    if reader.read_frames == 0:
        rep.skipped.append((it.path, "no frame could be decoded"))
    elif reader.ended_early:  # a truncated file: frames were lost, which is a skipped input (exit 1)
        rep.skipped.append((it.path, f"video ended after {reader.read_frames} of its {reader.frames} frames (truncated "
                                     "or corrupt); the frames read were processed and saved"))


def summary(det: Detector, rep: DetectReport, save_dir: Path) -> str:
    t = det.timing
    n = max(t.images, 1)
    lines = [f"inputs: {rep.images} image(s), {rep.videos} video(s) with {rep.frames} frame(s), {len(rep.skipped)} skipped"]
    for p, r in rep.skipped:
        lines.append(f"  skipped {p}: {r}")
    lines += [f"  {m}" for m in rep.messages]
    for seq, c in rep.tracks.items():
        lines.append(f"tracks in {seq}: " + (", ".join(f"{k} {v}" for k, v in c["tracks"].items()) or "none")
                     + f" (MOT txt: {save_dir / 'tracks' / (seq + '.txt')})")
        if "line" in c:
            lines.append("  crossing the line: " + (", ".join(f"{k} in {v['in']} out {v['out']}" for k, v in
                                                              c["line"].items()) or "none"))
    if t.per_class:
        per = ", ".join(f"{det.names.get(c, c)} {k}" for c, k in sorted(t.per_class.items(), key=lambda kv: -kv[1]))
        lines.append(f"detections: {sum(t.per_class.values())} ({per})")
    else:
        lines.append("detections: none")
    lines.append(f"speed: {1000 * t.pre / n:.1f} ms pre-process, {1000 * t.inference / n:.1f} ms inference, "
                 f"{1000 * t.nms / n:.1f} ms NMS per image ({det.nms} NMS, img {det.img})")
    lines.append(f"results in {save_dir}")
    return "\n".join(lines)
