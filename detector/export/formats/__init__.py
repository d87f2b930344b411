"""The registered export formats, one file each (importing this package registers them)."""
from . import onnx_format, openvino_format  # noqa: F401
