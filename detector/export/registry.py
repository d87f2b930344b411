"""Export formats by name. A format is one class, registered with a decorator::

    @register_format
    class MyFormat(ExportFormat):
        name = "myformat"                       # --format myformat
        suffix = ".onnx"                        # default artifact: <weights stem>[_int8]<suffix>
        def export(self, job): ...              # write it (exporter.write_onnx builds the graph); its path
        runtime = "onnxruntime"                 # the registered runtime that opens it (detector.runtime)

``tools/export.py --format`` takes its choices from :func:`format_names`; ``Detector``, ``tools/detect.py``
and ``tools/val.py`` open what it writes through :mod:`detector.runtime`.
"""
from __future__ import annotations

from pathlib import Path

from ..registry import Registry
from ..runtime import RUNTIMES

#: name -> ExportFormat instance (``--format`` choices, in registration order)
FORMATS = Registry("export format")


class ExportFormat:
    name: str = ""
    suffix: str = ""  # the default artifact name after the weights' stem: ".onnx", "_openvino_model"
    extra: str | None = None  # the pip package the format needs at run time ("onnxruntime", "openvino")
    int8: bool = False  # supports --int8 (post-training quantization with calibration images)
    runtime: str = ""  # the registered runtime (detector.runtime) that opens what it writes

    def output_path(self, job) -> Path:
        """``job.output``, or beside the weights: ``best.onnx``, ``best_int8.onnx``, ``best_openvino_model/``."""
        if job.output:
            return Path(job.output)
        w = Path(job.weights)
        return w.with_name(f"{w.stem}{'_int8' if job.int8 else ''}{self.suffix}")

    def export(self, job) -> Path:
        raise NotImplementedError

    def accepts(self, path: Path) -> bool:
        """Is ``path`` an artifact of this format? (its runtime's answer)"""
        return RUNTIMES.get(self.runtime).accepts(Path(path))

    def open(self, path: Path, device: str = "cpu"):
        """An :class:`~detector.runtime.ExportedModel` that runs it (its runtime opens it)."""
        return RUNTIMES.get(self.runtime).open(Path(path), device)


def register_format(cls: type[ExportFormat]) -> type[ExportFormat]:
    FORMATS.add(cls.name, cls())
    return cls


def format_names() -> list[str]:
    return FORMATS.names()


def get_format(name: str) -> ExportFormat:
    return FORMATS.get(name)
