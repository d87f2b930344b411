"""Inference for people who embed the detector, and the engine behind tools/detect.py.

>>> from detector import Detector
>>> dets = Detector("runs/train/exp/weights/best.pt").predict("image.jpg")
>>> dets.boxes, dets.scores, dets.classes, dets.labels   # original-image pixels, xyxy

``weights`` may be a checkpoint (.pt) or an exported model (``best.onnx``, run by onnxruntime;
``best_openvino_model/``, run by OpenVINO) with the same pre-processing and NMS; an export with NMS in its
graph brings its own.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.image_io import as_bgr_uint8, read_image
from ..runtime import is_exported, open_exported
from ..ops.nms import IOU_THRES, MAX_DET, PREDICT_CONF, resolve_nms

from ..checkpoint.file import load_checkpoint, model_from_checkpoint
from ..utils.cli import round_img
from ..utils.dist import select_device
from .predictor import Predictor
from .slicing import SliceOptions, predict_sliced


@dataclass
class Detections:
    boxes: np.ndarray  # [K, 4] xyxy, original-image pixels
    scores: np.ndarray  # [K]
    classes: np.ndarray  # [K] int
    names: dict  # class id -> name
    densities: np.ndarray | None = None  # [K] predicted crowd density
    shape: tuple[int, int] = (0, 0)  # (height, width) of the image
    track_ids: np.ndarray | None = None  # [K] track ids (from 1) when tracking (Detector.track), else None

    @property
    def labels(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.classes]

    def __len__(self) -> int:
        return len(self.boxes)

    def subset(self, index: np.ndarray) -> "Detections":
        """The detections at ``index`` (an int array), in that order."""
        pick = (lambda a: None if a is None else a[index])
        return Detections(self.boxes[index], self.scores[index], self.classes[index], self.names,
                          pick(self.densities), self.shape, pick(self.track_ids))

    def to_supervision(self):
        """These detections as ``supervision.Detections`` (xyxy, confidence, class_id, tracker_id, and
        ``data['class_name']`` / ``data['density']``), for the annotators, zones and line counters of
        Roboflow's supervision (``pip install supervision``, or the ``track`` extra)."""
        try:
            import supervision as sv
        except ImportError:
            raise ImportError("to_supervision needs the supervision package: pip install supervision "
                              "(or pip install \".[track]\")") from None
        data = {"class_name": np.array(self.labels, dtype=object)}
        if self.densities is not None:
            data["density"] = np.asarray(self.densities, np.float32)
        return sv.Detections(xyxy=np.asarray(self.boxes, np.float32).reshape(-1, 4),
                             confidence=np.asarray(self.scores, np.float32), class_id=np.asarray(self.classes, int),
                             tracker_id=None if self.track_ids is None else np.asarray(self.track_ids, int), data=data)


def auto_rect(device: torch.device) -> bool:
    """Rectangular inference unless on CUDA. There every new input shape costs 0.1-0.6 s of cuDNN kernel
    planning, so a folder of mixed-size images ran 11x slower rectangular than square (104 vs 9 ms per
    image, H100, docs/results/benchmarks.md), while batch-1 GPU inference is launch-bound and pays nothing for
    the square's extra pixels. On CPU the smaller rectangle is simply less work."""
    return device.type != "cuda"


@dataclass
class Timing:
    pre: float = 0.0
    inference: float = 0.0
    nms: float = 0.0
    images: int = 0
    per_class: dict = field(default_factory=dict)


class Detector:
    def __init__(self, weights: str | Path, device: str = "", img: int = 640, conf_thres: float | None = None,
                 iou_thres: float = IOU_THRES, nms: str | None = None, max_det: int = MAX_DET,
                 classes: list[int] | None = None, half: bool = False, agnostic: bool = False,
                 rect: bool | None = None, slice: int | None = None, slice_overlap: float = 0.2,
                 slice_full: bool = True, slice_img: int | None = None):
        """``rect``: pad each batch only to a multiple of the stride (True) or to ``img`` x ``img`` (False);
        None picks :func:`auto_rect` for the device. ``slice``: sliced inference in tiles of that many pixels
        overlapping by ``slice_overlap``, plus the whole image unless ``slice_full`` is False, each tile run
        at ``slice_img`` px (default: the tile's own size) (:mod:`detector.predict.slicing`)."""
        self.weights = Path(weights)
        self.timing = Timing()
        self.conf_given = conf_thres is not None  # tracking lowers an unset threshold to the tracker's lowest
        self.nms_given = nms is not None  # tracking uses the tracker YAML's nms, if it names one, for an unset method
        self.graph_nms = None
        conf_thres = PREDICT_CONF if conf_thres is None else conf_thres
        self.slicing = SliceOptions(slice, slice_overlap, slice_full, img=slice_img) if slice else None
        opts = dict(img=img, rect=rect, conf_thres=conf_thres, iou_thres=iou_thres, max_det=max_det, classes=classes,
                    agnostic=agnostic)
        if is_exported(self.weights):
            self._init_exported(opts, nms)
        else:
            self.device = select_device(device)
            opts["rect"] = auto_rect(self.device) if rect is None else rect
            ck = load_checkpoint(self.weights)
            # channels-last (NHWC) convolutions: ~1.2x faster on CPU (oneDNN, docs/results/benchmarks.md), tensor-core friendly on CUDA
            self.model = model_from_checkpoint(ck, str(self.weights)).to(self.device).fuse().eval()
            self.model = self.model.to(memory_format=torch.channels_last)
            self.half = half and self.device.type == "cuda"
            if self.half:
                self.model.half()
            self.names = dict(self.model.names)
            self.cat_ids = ck.get("cat_ids")
            self.default_nms = resolve_nms(ck.get("nms"), self.model.cfg.nms)
            opts["img"] = round_img(opts["img"], self.model.max_stride)
            self.predictor = Predictor.from_model(self.model, self.device, self.half, nms=nms or self.default_nms, **opts)

    # the predictor's settings, readable and settable here
    img = property(lambda self: self.predictor.img, lambda self, v: setattr(self.predictor, "img", v))
    rect = property(lambda self: self.predictor.rect, lambda self, v: setattr(self.predictor, "rect", v))
    stride = property(lambda self: self.predictor.stride)
    nms = property(lambda self: self.predictor.options.nms)

    def _init_exported(self, opts: dict, nms: str | None) -> None:
        """An exported model (ONNX, OpenVINO: any registered format), its metadata checked on opening."""
        em = open_exported(self.weights)
        self.exported = em
        self.graph_nms = em.graph_nms
        self.names, self.cat_ids, self.default_nms = em.names, em.cat_ids, em.default_nms
        if em.graph_nms is not None:  # NMS is in the graph: its method and IoU threshold are fixed at export
            g = em.graph_nms
            if nms not in (None, g["method"]):
                raise ValueError(f"{self.weights}: its NMS ({g['method']}, IoU {g['iou']}) is inside the graph; "
                                 f"--nms {nms} needs an export without --nms-in-graph")
            if opts.get("agnostic"):
                raise ValueError(f"{self.weights}: its in-graph NMS is class-aware; --agnostic-nms needs an export "
                                 "without --nms-in-graph")
            if opts["conf_thres"] < g["conf"]:
                print(f"note: {self.weights}: NMS in the graph was exported with conf {g['conf']}: boxes scored "
                      f"below it are not in its output (--conf {opts['conf_thres']} cannot bring them back)",
                      file=sys.stderr)
        if opts["rect"] is None:
            opts["rect"] = auto_rect(torch.device("cpu"))
        if em.static_size:  # static export: its size wins, square input only
            opts.update(img=em.static_size, rect=False)
            if self.slicing is not None:
                self.slicing.img = em.static_size
        else:
            opts["img"] = round_img(opts["img"], em.stride)
        self.device, self.half = torch.device("cpu"), False
        self.predictor = Predictor.from_exported(em, nms=nms or self.default_nms, **opts)

    # -------------------------------------------------------------------------
    def input_shape(self, imgs: list[np.ndarray]) -> tuple[int, int]:
        return self.predictor.input_shape(imgs)

    def preprocess(self, imgs: list[np.ndarray]) -> tuple[torch.Tensor, list[dict]]:
        return self.predictor.preprocess(imgs)

    def predict_arrays(self, imgs: list[np.ndarray]) -> list[Detections]:
        """BGR images (HxWx3 uint8; also gray, BGRA, channels-first, float in [0, 1] or [0, 255]:
        :func:`~detector.data.image_io.as_bgr_uint8`) -> one Detections each."""
        if not len(imgs):
            return []
        imgs = [as_bgr_uint8(a, f"image {k}") for k, a in enumerate(imgs)]
        p = self.predictor
        if self.slicing is not None:  # tiles (+ the whole image) through the same predictor, merged by its NMS
            t0 = t1 = time.perf_counter()
            dets = [predict_sliced(p, im, self.slicing) for im in imgs]
            metas = [{"orig_shape": im.shape[:2]} for im in imgs]
            t2 = t3 = time.perf_counter()
        else:
            t0 = time.perf_counter()
            x, metas = p.preprocess(imgs)
            t1 = time.perf_counter()
            if p.needs_warmup:  # one-time CUDA start-up, kept out of the per-image speed
                p.warmup(x)
                t1 = time.perf_counter()
            preds = p.forward(x)
            p.sync()
            t2 = time.perf_counter()
            dets = p.to_original(p.postprocess(preds), metas)
            t3 = time.perf_counter()
        self.timing.pre += t1 - t0
        self.timing.inference += t2 - t1
        self.timing.nms += t3 - t2
        self.timing.images += len(imgs)
        out = []
        for d, m in zip(dets, metas):
            b = d[:, :4].numpy() if len(d) else np.zeros((0, 4), np.float32)
            cls = d[:, 5].long().numpy()
            for c in cls:
                self.timing.per_class[int(c)] = self.timing.per_class.get(int(c), 0) + 1
            out.append(Detections(b, d[:, 4].numpy(), cls, self.names, d[:, 6].numpy() if d.shape[1] > 6 else None,
                                  tuple(m["orig_shape"])))
        return out

    def track(self, source, tracker: str | Path | dict = "bytetrack", persist: bool = True, frame_rate: float = 30.0):
        """Tracking: ids that persist across frames (:mod:`detector.predict.tracking`).

        ``source``: one frame (a BGR array) -> its Detections with ``track_ids``, the tracker's state kept for
        the next call while ``persist`` (Ultralytics' ``persist=True``; ``persist=False`` starts afresh);
        or a video file, a folder of frames (sorted by name) or a list/iterable of frames -> a generator of
        per-frame Detections, one sequence, a fresh tracker. Only boxes that belong to a track are returned.
        ``tracker``: a name (``bytetrack``, ``botsort``, ``ocsort``, ``sort``), a tracker YAML or a dict. A Detector
        made without ``conf_thres`` detects down to the tracker's ``track_low_thresh`` (0.1) while tracking, and
        one made without ``nms`` uses the tracker YAML's ``nms`` if it names one (:meth:`use_tracker_settings`)."""
        from .tracking import Tracker, load_tracker_config

        settings = load_tracker_config(tracker)
        self.use_tracker_settings(settings)
        if isinstance(source, np.ndarray):
            key = (str(tracker) if not isinstance(tracker, dict) else repr(sorted(tracker.items())), frame_rate)
            if not persist or getattr(self, "_track_state", (None,))[0] != key:
                self._track_state = (key, Tracker(settings, frame_rate))
            return self._track_one(self._track_state[1], source)
        return self._track_sequence(source, Tracker(settings, frame_rate))

    def use_tracker_settings(self, settings: dict) -> str:
        """The detection settings a tracker wants, where the Detector was made without them: conf down to its
        ``track_low_thresh`` (ByteTrack's second stage needs the low-score boxes; Ultralytics: conf 0.1) and the
        NMS method its YAML names (``nms:``; not for an export with NMS in its graph). -> a log line."""
        o, notes = self.predictor.options, []
        if not self.conf_given:
            o.conf_thres = min(PREDICT_CONF, float(settings.get("track_low_thresh", 0.1)))
            notes.append(f"conf {o.conf_thres:g}")
        if not self.nms_given and settings.get("nms") and self.graph_nms is None:
            o.nms = str(settings["nms"])
            notes.append(f"NMS {o.nms}")
        return (f"tracking with {', '.join(notes)} (from {settings.get('_source', 'the tracker settings')}; "
                "--conf / --nms to choose)") if notes else ""

    def _track_sequence(self, source, tr):
        from .sources import VideoReader, resolve

        if isinstance(source, (str, Path)):
            p = Path(source)
            if p.is_dir():
                frames = (read_image(it.path) for it in resolve(str(p)) if it.kind == "image")
            else:
                reader = VideoReader(str(p))
                tr = type(tr)(tr.settings, reader.fps or 30.0)
                frames = iter(reader)
        else:
            frames = iter(source)
        for f in frames:
            yield self._track_one(tr, f)

    def _track_one(self, tr, frame: np.ndarray) -> Detections:
        d = self.predict_arrays([frame])[0]
        idx, ids = tr.update(d.boxes, d.scores, d.classes, frame)
        out = d.subset(idx)
        out.track_ids = ids
        return out

    def predict(self, source):
        """An image array (BGR), a path, or a list of them -> Detections (or a list)."""
        single = not isinstance(source, (list, tuple))
        items = [source] if single else list(source)
        if not isinstance(source, (np.ndarray, str, Path, list, tuple)):
            raise ValueError(f"predict: expected an image array, a path or a list of them, got {type(source).__name__}")
        imgs = [s if isinstance(s, np.ndarray) else read_image(s) for s in items]
        res = self.predict_arrays(imgs)
        return res[0] if single else res
