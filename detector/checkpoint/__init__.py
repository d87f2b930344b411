"""Model files: our checkpoint format (state dicts + plain config, atomic writes, ``weights_only`` reads) and
the Ultralytics reader (a YOLOv8 ``.pt`` read without running its code). Low in the house: it uses models and
config only; training, prediction, evaluation and export read and write weights through it.

    from detector.checkpoint import load_checkpoint, model_from_checkpoint
    model = model_from_checkpoint(load_checkpoint("best.pt"))
"""
from .errors import FORMAT, CheckpointError
from .file import build_model_of, checkpoint_stride, describe_file, load_checkpoint, load_weights, model_from_checkpoint, save_checkpoint
from .ultralytics import convert_ultralytics, is_ultralytics_file

__all__ = ["FORMAT", "CheckpointError", "build_model_of", "checkpoint_stride", "convert_ultralytics", "describe_file", "is_ultralytics_file",
           "load_checkpoint", "load_weights", "model_from_checkpoint", "save_checkpoint"]
