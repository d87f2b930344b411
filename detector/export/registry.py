"""Export formats by name. A format is one class, registered with a decorator::

    @register_format
    class MyFormat(ExportFormat):
        name = "myformat"                       # --format myformat
        suffix = ".onnx"                        # default artifact: <weights stem>[_int8]<suffix>
        def export(self, job): ...              # write it (exporter.write_onnx builds the graph); its path
        def accepts(self, path): ...            # is this path an artifact of the format?
        def open(self, path): ...               # an ExportedModel that runs it (detector.export.runtime)

``tools/export.py --format`` takes its choices from :func:`format_names`; ``Detector``, ``tools/detect.py``
and ``tools/val.py`` open any path a registered format ``accepts``.
"""
from __future__ import annotations

from pathlib import Path
FORMATS: dict[str, "ExportFormat"] = {}


class ExportFormat:
    name: str = ""
    suffix: str = ""  # the default artifact name after the weights' stem: ".onnx", "_openvino_model"
    extra: str | None = None  # the pip package the format needs at run time ("onnxruntime", "openvino")
    int8: bool = False  # supports --int8 (post-training quantization with calibration images)

    def output_path(self, job) -> Path:
        """``job.output``, or beside the weights: ``best.onnx``, ``best_int8.onnx``, ``best_openvino_model/``."""
        if job.output:
            return Path(job.output)
        w = Path(job.weights)
        return w.with_name(f"{w.stem}{'_int8' if job.int8 else ''}{self.suffix}")

    def export(self, job) -> Path:
        raise NotImplementedError

    def accepts(self, path: Path) -> bool:
        raise NotImplementedError

    def open(self, path: Path, device: str = "cpu"):
        raise NotImplementedError


def register_format(cls: type[ExportFormat]) -> type[ExportFormat]:
    if not cls.name:
        raise ValueError(f"{cls.__name__}: an export format needs a name")
    if cls.name in FORMATS and type(FORMATS[cls.name]) is not cls:
        raise ValueError(f"export format {cls.name!r} is already registered ({type(FORMATS[cls.name]).__module__})")
    FORMATS[cls.name] = cls()
    return cls


def format_names() -> list[str]:
    return list(FORMATS)


def get_format(name: str) -> ExportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"export format must be one of {format_names()}, got {name!r}") from None


def format_for_path(path: str | Path) -> ExportFormat | None:
    """The registered format whose artifact ``path`` is (None: a checkpoint or something else)."""
    p = Path(path)
    for f in FORMATS.values():
        if f.accepts(p):
            return f
    return None

