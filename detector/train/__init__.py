"""Training: the :class:`Trainer` loop and its parts — callbacks (checkpoints, validation, logs, schedules),
optimizer and schedule, EMA, the non-finite guard, hyperparameter files, weight transfer and distillation.

    from detector.train import Trainer, TrainConfig
    Trainer(TrainConfig(cfg="yolo_ca_bifpn.yaml", data="coco128.yaml", epochs=3)).train()
"""
from .callbacks import Callback, default_callbacks
from .hyp import load_hyp
from .trainer import BUILT_IN_DEFAULTS, Trainer, TrainConfig, find_last_checkpoint, with_defaults
from .transfer import TransferReport, transfer_weights

__all__ = ["BUILT_IN_DEFAULTS", "Callback", "TrainConfig", "Trainer", "TransferReport", "default_callbacks", "find_last_checkpoint",
           "load_hyp", "transfer_weights", "with_defaults"]
