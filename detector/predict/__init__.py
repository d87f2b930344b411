"""Prediction: the one inference path (:class:`Predictor`: letterbox, forward, decode, NMS, boxes back in the
image) used by the :class:`Detector` API, ``tools/detect.py``, validation, export checks and the benchmarks;
image / folder / glob / video / webcam sources; the detect job that writes annotated images, videos and labels.

    from detector.predict import Detector
    dets = Detector("best.pt")("bus.jpg")    # a checkpoint, or an exported model through detector.runtime
"""
from .api import Detections, Detector
from .detect_sources import DetectOptions, DetectReport, run_detect
from .predictor import PostprocessOptions, Predictor
from .sources import Item, SourceError, VideoReader, resolve

__all__ = ["DetectOptions", "DetectReport", "Detections", "Detector", "Item", "PostprocessOptions", "Predictor",
           "SourceError", "VideoReader", "resolve", "run_detect"]
