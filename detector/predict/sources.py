"""Input sources for detect.py: an image, a folder, a glob, a .txt list, a video file or a webcam."""
from __future__ import annotations

import glob as globlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..data.image_io import IMAGE_SUFFIXES, ImageReadError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".ts", ".asf", ".gif"}


class SourceError(ValueError):
    """The source does not exist or cannot be used at all."""


@dataclass
class Item:
    path: str
    kind: str  # 'image' | 'video' | 'skip'
    reason: str = ""


def resolve(source: str) -> list[Item]:
    """Expand a source into items (a digit string is one webcam item)."""
    if source.isdigit():
        return [Item(source, "webcam")]
    p = Path(source).expanduser()
    if any(ch in source for ch in "*?["):
        paths = [Path(x) for x in sorted(globlib.glob(source, recursive=True)) if Path(x).is_file()]
        if not paths:
            raise SourceError(f"{source}: no files match this pattern")
    elif p.is_dir():
        from ..data.records import walk_files  # follows symlinked sub-folders, skips unreadable ones

        paths = sorted(x for x in walk_files(p) if not x.name.startswith("."))
        if not paths:
            raise SourceError(f"{source}: the folder is empty")
    elif p.is_file() and p.suffix.lower() == ".txt":
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        paths = [Path(ln) if Path(ln).is_absolute() else p.parent / ln for ln in lines]
    elif p.is_file():
        paths = [p]
    else:
        raise SourceError(f"{source}: no such file or folder")
    items = []
    for x in paths:
        suf = x.suffix.lower()
        if not x.is_file():
            items.append(Item(str(x), "skip", "file not found"))
        elif suf in IMAGE_SUFFIXES:
            items.append(Item(str(x), "image"))
        elif suf in VIDEO_SUFFIXES:
            items.append(Item(str(x), "video"))
        else:
            items.append(Item(str(x), "skip", f"not an image or video file (suffix {suf or 'none'})"))
    return items


class VideoReader:
    """Frames of a video file or webcam, with fps / size / expected frame count."""

    def __init__(self, path: str):
        self.path = path
        self.cap = cv2.VideoCapture(int(path) if path.isdigit() else path)
        if not self.cap.isOpened():
            raise SourceError(f"{path}: cannot open video (unsupported codec, corrupt file or no camera)")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not path.isdigit() else 0
        self.read_frames = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self.cap.read()
            if not ok:
                break
            self.read_frames += 1
            yield frame
        self.cap.release()

    @property
    def ended_early(self) -> bool:
        return self.frames > 0 and self.read_frames < self.frames


__all__ = ["Item", "SourceError", "VideoReader", "resolve", "ImageReadError"]
