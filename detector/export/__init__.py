"""Export: checkpoint -> a deployable graph (decoding inside, NMS optionally inside), one class per format.

    from detector.export import ExportJob, export_model, open_exported
    path = export_model(ExportJob("best.pt", format="openvino", nms_in_graph="adaptive"))
    em = open_exported(path)                 # runs it (Detector, detect.py and val.py use the same)

Formats: :mod:`detector.export.formats` (``onnx``, ``openvino``); add one with ``@register_format``
(:mod:`detector.export.registry`). NMS in the graph: :mod:`detector.export.graph_nms`.
"""
from ..runtime import ExportedModel, is_exported, open_exported
from . import formats  # noqa: F401  (registers the formats)
from .exporter import ExportJob, export_model
from .registry import ExportFormat, format_names, get_format, register_format

__all__ = ["ExportFormat", "ExportJob", "ExportedModel", "export_model", "format_names", "get_format", "is_exported",
           "open_exported", "register_format"]
