"""Model assembly: YAML builder and the graph-running DetectionModel."""
from .detector import DetectionModel, build_model
from .inference import DecodedModel

__all__ = ["DetectionModel", "DecodedModel", "build_model"]
