"""Multi-object tracking on top of the detector: ids that persist across the frames of a video or a folder
of frames (``tools/detect.py --track``, ``Detector.track``).

The trackers themselves (Kalman filters, assignment) come from Roboflow's ``trackers`` package (Apache-2.0,
the ``track`` extra: ``pip install ".[track]"``): SORT, ByteTrack, OC-SORT and BoT-SORT, registered in
:data:`TRACKERS` by the names ``sort``, ``bytetrack``, ``ocsort``, ``botsort``. Their settings live in a small
YAML (``cfg/trackers/<name>.yaml``, or your own file with ``tracker_type:``) whose keys are Ultralytics' where
they exist (``track_high_thresh``, ``track_low_thresh``, ``new_track_thresh``, ``track_buffer``,
``match_thresh``, ``gmc_method``); ``nms`` (ours) is the detector's NMS method while tracking when none is given;
any other key is passed to the library's tracker by its own name.

Boxes scored below ``track_low_thresh`` never reach the tracker; it sees every class at once (class-agnostic
association, as Ultralytics' trackers) and each track keeps the class of its latest box.
"""
from __future__ import annotations

import difflib
import inspect
from collections import defaultdict, deque
from pathlib import Path

import numpy as np
import yaml

from ..registry import Registry
from ..utils.io import StreamedWrite

#: name -> the library's tracker class name (resolved on use, so the package is needed only to track)
TRACKERS = Registry("tracker")
for _name, _cls in (("bytetrack", "ByteTrackTracker"), ("botsort", "BoTSORTTracker"), ("ocsort", "OCSORTTracker"),
                    ("sort", "SORTTracker")):
    TRACKERS.add(_name, _cls)

#: Ultralytics' keys -> the library's argument (None: handled here)
ULTRALYTICS_KEYS = {"tracker_type": None, "track_low_thresh": None, "track_high_thresh": "high_conf_det_threshold",
                    "new_track_thresh": "track_activation_threshold", "track_buffer": "lost_track_buffer",
                    "match_thresh": None, "gmc_method": None, "fuse_score": None}


def _library():
    try:
        import trackers
    except ImportError:
        raise ImportError("tracking needs Roboflow's trackers package: pip install \".[track]\" (or pip install trackers)"
                          ) from None
    return trackers


def load_tracker_config(spec: str | Path | dict) -> dict:
    """A tracker name (``bytetrack``: the shipped ``cfg/trackers/bytetrack.yaml``), a YAML path, or a dict ->
    the settings dict, ``tracker_type`` checked against :data:`TRACKERS`."""
    from ..config import find_config

    if isinstance(spec, dict):
        d, src = dict(spec), "tracker settings"
    else:
        s = str(spec)
        if s in TRACKERS:
            s = f"{s}.yaml"
        path, _ = find_config(s)
        if not path.is_file():
            raise ValueError(f"--track {spec}: not a tracker ({', '.join(TRACKERS.names())}) nor a tracker YAML file")
        d, src = yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path)
        if not isinstance(d, dict):
            raise ValueError(f"{src}: a tracker YAML must be a mapping (tracker_type: bytetrack, ...)")
    if "tracker_type" not in d:
        raise ValueError(f"{src}: no tracker_type (one of {TRACKERS.names()})")
    TRACKERS.get(str(d["tracker_type"]))
    if d.get("nms") is not None:
        from ..ops.nms import nms_methods

        if str(d["nms"]) not in nms_methods():
            raise ValueError(f"{src}: nms {d['nms']!r} is not an NMS method ({', '.join(nms_methods())})")
    d["_source"] = src
    return d


class Tracker:
    """One sequence's tracker: ``update(boxes, scores, classes, frame)`` -> the tracked boxes with ids.

    ``settings``: :func:`load_tracker_config`'s dict; ``frame_rate``: the video's (the lost-track buffer is
    counted at 30 FPS and scaled, as the library does).
    """

    def __init__(self, settings: dict, frame_rate: float = 30.0):
        self.settings = dict(settings)
        self.name = str(self.settings["tracker_type"])
        self.low = float(self.settings.get("track_low_thresh", 0.1))
        entry = TRACKERS.get(self.name)  # a class name of the trackers package, or a class of the same interface
        cls = getattr(_library(), entry) if isinstance(entry, str) else entry
        self.kwargs = self._library_kwargs(cls, float(frame_rate))
        self.tracker = cls(**self.kwargs)

    def _library_kwargs(self, cls, frame_rate: float) -> dict:
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        src = self.settings.get("_source", "tracker settings")
        out = {"frame_rate": frame_rate} if "frame_rate" in params else {}
        for k, v in self.settings.items():
            if k.startswith("_") or k in ("tracker_type", "track_low_thresh", "fuse_score", "nms"):  # used here, or moot
                continue
            if k == "match_thresh":  # Ultralytics: a cost threshold on 1 - IoU
                key = next((p for p in ("minimum_iou_threshold", "minimum_iou_threshold_first_assoc") if p in params), None)
                if key:
                    out[key] = round(1.0 - float(v), 6)
                continue
            if k == "gmc_method":
                if "cmc_method" in params:
                    out["enable_cmc"] = str(v).lower() not in ("none", "false", "")
                    if out["enable_cmc"]:
                        out["cmc_method"] = str(v)
                continue
            name = ULTRALYTICS_KEYS.get(k, k)
            if name not in params:
                if k in ULTRALYTICS_KEYS:  # an Ultralytics key this tracker has no use for (e.g. SORT's high threshold)
                    continue
                hint = difflib.get_close_matches(k, [*params, *ULTRALYTICS_KEYS], n=2)
                raise ValueError(f"{src}: unknown key {k!r} for {self.name}"
                                 + (f"; did you mean {' or '.join(map(repr, hint))}?" if hint else
                                    f"; it takes {sorted(ULTRALYTICS_KEYS)} or {params}"))
            out[name] = v
        return out

    def reset(self) -> None:
        self.tracker.reset()

    def update(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, frame: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:
        """boxes [K, 4] xyxy, scores [K], classes [K] of one frame -> (index into the inputs [M], track ids [M],
        counted from 1) of the boxes that belong to a confirmed track this frame."""
        import supervision as sv

        keep = np.nonzero(scores >= self.low)[0]
        det = sv.Detections(xyxy=np.asarray(boxes, np.float32)[keep].reshape(-1, 4),
                            confidence=np.asarray(scores, np.float32)[keep],
                            class_id=np.asarray(classes, int)[keep], data={"index": keep})
        wants_frame = self.name == "botsort" and self.kwargs.get("enable_cmc", True)
        out = self.tracker.update(det, frame) if wants_frame and frame is not None else self.tracker.update(det)
        if out.tracker_id is None or not len(out):
            return np.zeros(0, int), np.zeros(0, int)
        ok = out.tracker_id >= 0
        return np.asarray(out.data["index"])[ok].astype(int), out.tracker_id[ok].astype(int) + 1  # ids from 1


def _side(line: tuple[float, float, float, float], x: float, y: float) -> float:
    """Sign of the cross product: which side of the directed line (x1, y1) -> (x2, y2) the point is on."""
    x1, y1, x2, y2 = line
    return (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)


def crosses(line: tuple[float, float, float, float], p: tuple[float, float], q: tuple[float, float]) -> int:
    """+1 when the step p -> q crosses the segment from one side to the other ("in"), -1 the other way ("out"),
    0 when it does not cross it; a point exactly on the line counts with one side, so a track that steps onto
    the line and then off it is counted once."""
    a, b = _side(line, *p) >= 0, _side(line, *q) >= 0  # a point on the line counts with the left side
    if a == b:
        return 0
    x1, y1, x2, y2 = line
    seg = (q[0], q[1], p[0], p[1])  # the step's own line: the segment's ends must lie on both sides of it
    if (_side(seg, x1, y1) >= 0) == (_side(seg, x2, y2) >= 0):
        return 0
    return -1 if b else 1


class TrackLog:
    """What a tracked sequence leaves behind: MOTChallenge rows, short trails, ids seen per class, and counts
    of tracks crossing a line (``line``: x1, y1, x2, y2 in pixels; each track counted at each crossing)."""

    def __init__(self, trail: int = 30, line: tuple[float, float, float, float] | None = None,
                 sink: str | Path | None = None):
        """``sink``: stream the MOT rows into this file as they come (a temp file beside it, moved onto it at
        :meth:`close`), so an hours-long video holds no rows in memory; without it they are kept for
        :meth:`mot_text`."""
        self.rows: list[str] = []
        self._sink = StreamedWrite(sink) if sink is not None else None
        self.trails: dict[int, deque] = defaultdict(lambda: deque(maxlen=trail))
        self.ids_per_class: dict[int, set] = defaultdict(set)
        self.line = line
        self.crossed: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # class -> [in (+1), out (-1)]

    def add(self, frame: int, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, ids: np.ndarray) -> None:
        """``frame`` 1-based, as MOTChallenge numbers them."""
        for b, s, c, i in zip(boxes, scores, classes, ids):
            row = f"{frame},{int(i)},{b[0]:.2f},{b[1]:.2f},{b[2] - b[0]:.2f},{b[3] - b[1]:.2f},{s:.4f},-1,-1,-1"
            if self._sink is not None:
                self._sink.write(row + "\n")
            else:
                self.rows.append(row)
            centre, trail = (float((b[0] + b[2]) / 2), float((b[1] + b[3]) / 2)), self.trails[int(i)]
            if self.line is not None and trail:
                d = crosses(self.line, trail[-1], centre)
                if d:
                    self.crossed[int(c)][0 if d > 0 else 1] += 1
            trail.append(centre)
            self.ids_per_class[int(c)].add(int(i))

    def line_counts(self, names: dict) -> dict[str, dict[str, int]]:
        """{class name: {'in': n, 'out': n}} of the tracks that crossed the line."""
        return {names.get(c, str(c)): {"in": v[0], "out": v[1]} for c, v in sorted(self.crossed.items())}

    def counts(self, names: dict) -> dict[str, int]:
        """Distinct track ids per class name."""
        return {names.get(c, str(c)): len(v) for c, v in sorted(self.ids_per_class.items())}

    def mot_text(self) -> str:
        """The MOT rows so far (a log with a ``sink`` keeps none: read its file)."""
        return "\n".join(self.rows) + ("\n" if self.rows else "")

    def close(self) -> Path | None:
        """Finish the streamed file (synced, moved onto ``sink`` at once). -> ``sink``, or None without one."""
        return self._sink.close() if self._sink is not None else None
