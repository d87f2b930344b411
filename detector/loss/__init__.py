"""Loss: task-aligned assignment, CIoU + DFL + BCE + density."""
from .assigner import TaskAlignedAssigner
from .density import density_targets
from .detection_loss import DetectionLoss

__all__ = ["TaskAlignedAssigner", "density_targets", "DetectionLoss"]
