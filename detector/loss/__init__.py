"""Loss: task-aligned assignment, CIoU + DFL + BCE + density."""
from .assigner import TaskAlignedAssigner
from .density import density_targets
from .detection_loss import DetectionLoss
from .end2end_loss import EndToEndLoss

__all__ = ["TaskAlignedAssigner", "density_targets", "DetectionLoss", "EndToEndLoss"]
