"""Image reading with OpenCV: any path (unicode too), grayscale / RGBA / 16-bit -> 8-bit BGR,
EXIF orientation applied or ignored on request, and cheap header checks.

Orientation: OpenCV applies the EXIF orientation tag by default. YOLO-txt labels refer to the
image as displayed (oriented); COCO json boxes refer to the image of the json's width x height,
so COCO records decode with the orientation that matches that size (see ``records.py``).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm", ".jp2"}

_MAGIC = [
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"RIFF", "webp"),
    (b"\x00\x00\x00\x0cjP  ", "jp2"),
]


class ImageReadError(OSError):
    """An image file is missing, empty, not an image or cannot be decoded."""


def sniff_image(path: str | Path) -> tuple[str | None, str | None]:
    """Cheap check without decoding: returns (format or None, problem or None).

    Problems: missing file, zero-byte file, unknown format (not an image), JPEG without its end
    marker (truncated: reported as a warning by callers, the decodable part is still used).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        return None, "missing image file"
    if not p.is_file():
        return None, "not a file"
    if size == 0:
        return None, "zero-byte image file"
    try:
        with open(p, "rb") as f:
            head = f.read(16)
            fmt = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
            if fmt == "webp" and head[8:12] != b"WEBP":
                fmt = None
            if fmt is None:
                return None, f"not an image (unrecognised file header {head[:8]!r})"
            if fmt == "jpeg":
                f.seek(-2, 2)
                if f.read(2) != b"\xff\xd9":
                    return fmt, "truncated JPEG (no end-of-image marker)"
    except OSError as e:
        return None, f"unreadable: {e}"
    return fmt, None


def read_image(path: str | Path, apply_exif: bool = True) -> np.ndarray:
    """Decode ``path`` to HxWx3 uint8 BGR. Raises :class:`ImageReadError` with the reason.

    ``cv2.IMREAD_COLOR`` turns gray, gray+alpha and RGBA into BGR, 16-bit into 8-bit, and applies
    the EXIF orientation unless ``apply_exif`` is False.
    """
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read: {e}") from None
    if buf.size == 0:
        raise ImageReadError(f"{path}: zero-byte image file")
    flags = cv2.IMREAD_COLOR if apply_exif else cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    img = cv2.imdecode(buf, flags)
    if img is None:
        raise ImageReadError(f"{path}: not a decodable image (corrupt or unsupported format)")
    return img
