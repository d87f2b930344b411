"""Data: dataset YAML, COCO-json / YOLO-txt indexing with label checks, augmentation, loaders,
and the embedded synthetic dataset."""
from .build import SplitIndex, build_dataloader, index_split
from .config import DataConfig, load_data_config
from .dataset import DetectionDataset, collate
from .records import ImageRecord, Issue

__all__ = ["SplitIndex", "build_dataloader", "index_split", "DataConfig", "load_data_config", "DetectionDataset",
           "collate", "ImageRecord", "Issue"]
