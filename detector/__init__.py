"""detector: a YOLO-style object detector with Coordinate Attention, a weighted BiFPN
neck and adaptive NMS. Importing it has no side effects beyond registering blocks.

>>> from detector import build_model
>>> model = build_model("cfg/yolo_ca_bifpn.yaml", scale="n", nc=80)
"""
from .config import ConfigError, load_model_config
from .models import DetectionModel, build_model
from .registry import MODULES, Registry, RegistryError


def __getattr__(name):  # lazy: importing the package does not pull in prediction
    if name in ("Detector", "Detections"):
        from .predict import api

        return getattr(api, name)
    raise AttributeError(f"module 'detector' has no attribute {name!r}")

__version__ = "0.1.0"
__all__ = ["Detector", "Detections", "build_model", "DetectionModel", "load_model_config", "ConfigError", "MODULES", "Registry",
           "RegistryError", "__version__"]
