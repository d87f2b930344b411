"""Drawing boxes on images (OpenCV) so a person can see what the model sees or predicts."""
from __future__ import annotations

import cv2
import numpy as np

_PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
            (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0),
            (147, 69, 52), (255, 115, 100), (236, 24, 0), (255, 56, 132), (133, 0, 82), (255, 56, 203),
            (200, 149, 255), (199, 55, 255)]


def color(i: int) -> tuple[int, int, int]:
    return _PALETTE[int(i) % len(_PALETTE)]


def density_color(d: float) -> tuple[int, int, int]:
    """BGR colour of a predicted crowd density in [0, 1] (OpenCV's TURBO map: blue isolated -> red crowded)."""
    v = np.uint8(round(255 * min(max(float(d), 0.0), 1.0)))
    return tuple(int(c) for c in cv2.applyColorMap(np.full((1, 1), v, np.uint8), cv2.COLORMAP_TURBO)[0, 0])


def draw_boxes(img: np.ndarray, boxes: np.ndarray, classes: np.ndarray, names: list[str] | dict | None = None,
               scores: np.ndarray | None = None, line_width: int | None = None, hide_labels: bool = False,
               hide_conf: bool = False, crowd: np.ndarray | None = None, densities: np.ndarray | None = None,
               track_ids: np.ndarray | None = None, trails: dict | None = None) -> np.ndarray:
    """Draw xyxy boxes on a copy of a BGR image; crowd regions dashed-grey. With ``densities`` (the
    predicted crowd density of each box, adaptive NMS's input) boxes take :func:`density_color` and labels
    show ``d=0.62``. With ``track_ids`` each box takes its track's colour and its label starts ``id:7``;
    ``trails`` ({track id: recent centre points}) draws each drawn track's path. Returns the new image."""
    out = np.ascontiguousarray(img.copy())
    lw = line_width or max(1, round(sum(out.shape[:2]) / 2 * 0.003))
    for b in (crowd if crowd is not None else []):
        x1, y1, x2, y2 = (int(round(v)) for v in b)
        cv2.rectangle(out, (x1, y1), (x2, y2), (160, 160, 160), 1, cv2.LINE_4)
    for k, (b, c) in enumerate(zip(boxes, classes)):
        x1, y1, x2, y2 = (int(round(v)) for v in b)
        col = color(int(c)) if densities is None else density_color(densities[k])
        if track_ids is not None and densities is None:
            col = color(int(track_ids[k]))
        if trails is not None and track_ids is not None and len(trails.get(int(track_ids[k]), ())) > 1:
            pts = np.array([[round(x), round(y)] for x, y in trails[int(track_ids[k])]], np.int32)
            cv2.polylines(out, [pts], False, col, max(lw - 1, 1), cv2.LINE_AA)
        cv2.rectangle(out, (x1, y1), (x2, y2), col, lw, cv2.LINE_AA)
        if hide_labels:
            continue
        label = names[int(c)] if names is not None else str(int(c))
        if track_ids is not None:
            label = f"id:{int(track_ids[k])} {label}"
        if scores is not None and not hide_conf:
            label = f"{label} {float(scores[k]):.2f}"
        if densities is not None:
            label = f"{label} d={float(densities[k]):.2f}"
        fs = max(lw / 3, 0.35)
        (tw, th), _ = cv2.getTextSize(label, 0, fs, max(lw - 1, 1))
        y_text = y1 - 2 if y1 - th - 3 >= 0 else y1 + th + 2
        cv2.rectangle(out, (x1, y_text - th - 2), (x1 + tw, y_text + 2), col, -1)
        cv2.putText(out, label, (x1, y_text), 0, fs, (255, 255, 255), max(lw - 1, 1), cv2.LINE_AA)
    return out


def batch_mosaic(images: np.ndarray, targets: np.ndarray, names, max_images: int = 16) -> np.ndarray:
    """Tile a batch (images [B, 3, H, W] uint8 RGB, targets [T, 6] batch/class/xyxy) into one BGR picture."""
    b = min(len(images), max_images)
    cols = int(np.ceil(np.sqrt(b)))
    rows = int(np.ceil(b / cols))
    h, w = images.shape[2:]
    canvas = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i in range(b):
        img = images[i].transpose(1, 2, 0)[:, :, ::-1]
        t = targets[targets[:, 0] == i]
        img = draw_boxes(img, t[:, 2:6], t[:, 1], names)
        r, c = divmod(i, cols)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return canvas


def titled(img: np.ndarray, title: str, height: int = 26) -> np.ndarray:
    """The image with a white title bar above it."""
    bar = np.full((height, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, title, (6, height - 8), 0, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], 0)


def mark_boxes(img: np.ndarray, boxes: np.ndarray, colour=(255, 255, 255), width: int = 4) -> np.ndarray:
    """Thick outlines (drawn under thinner boxes drawn afterwards): e.g. what one NMS keeps and another drops."""
    out = np.ascontiguousarray(img.copy())
    for b in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in b)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, width, cv2.LINE_AA)
    return out
