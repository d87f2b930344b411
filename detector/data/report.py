"""Label-check report: summary counts and labels_report.json."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ..utils.io import write_json
from .records import Issue, issues_to_json


def reason_kind(reason: str) -> str:
    """Group a reason sentence under a stable short key (numbers and paths removed)."""
    r = re.sub(r"\[.*?\]|\(.*?\)|'.*?'|\b[\w./-]*\d[\w./-]*\b", "", reason)
    r = re.sub(r"\s+", " ", r).strip(" :,;-")
    return r.split(",")[0].strip()


def summarize(issues_by_split: dict[str, list[Issue]], counts: dict[str, dict[str, int]]) -> str:
    lines = []
    for split, issues in issues_by_split.items():
        c = counts.get(split, {})
        lines.append(f"{split}: {c.get('images', 0)} images, {c.get('boxes', 0)} boxes, {c.get('crowd', 0)} crowd regions, "
                     f"{c.get('background', 0)} background images; "
                     f"{sum(i.severity == 'rejected' for i in issues)} rejected, {sum(i.severity == 'warning' for i in issues)} warnings")
        for (sev, kind), n in sorted(Counter((i.severity, reason_kind(i.reason)) for i in issues).items()):
            lines.append(f"  {sev:8s} {n:6d}  {kind}")
    return "\n".join(lines)


REJECTED_SHARE_WARN = 0.10  # warn loudly when more than this share of a split's boxes is rejected


def label_warnings(issues_by_split: dict[str, list[Issue]], counts: dict[str, dict[str, int]]) -> list[str]:
    """Loud warnings: a split losing more than 10 % of its boxes to rejections, or label files whose
    every box was rejected (the image then trains as background: probably not what was meant)."""
    out = []
    for split, issues in issues_by_split.items():
        box_rej = [i for i in issues if i.severity == "rejected" and (i.line or i.ann_id is not None)]
        kept = counts.get(split, {}).get("boxes", 0)
        if box_rej and len(box_rej) > REJECTED_SHARE_WARN * (kept + len(box_rej)):
            out.append(f"{split}: {len(box_rej)} of {kept + len(box_rej)} boxes "
                       f"({100 * len(box_rej) / (kept + len(box_rej)):.0f} %) were rejected")
        by_file = Counter(i.file for i in box_rej if i.line)
        emptied = [f for f, n in by_file.items() if n and not _kept_lines(f, issues)]
        if emptied:
            out.append(f"{split}: {len(emptied)} label file(s) lost every box to rejections, e.g. {emptied[0]}")
    return out


def _kept_lines(label_file: str, issues: list[Issue]) -> bool:
    """Whether a YOLO label file has a non-empty line that was not rejected."""
    try:
        lines = [n for n, ln in enumerate(Path(label_file).read_text(encoding="utf-8").splitlines(), 1) if ln.strip()]
    except (OSError, UnicodeDecodeError):
        return False
    rejected = {i.line for i in issues if i.file == label_file and i.severity == "rejected"}
    return any(n not in rejected for n in lines)


def write_report(path: str | Path, issues_by_split: dict[str, list[Issue]], counts: dict[str, dict[str, int]],
                 warnings: list[str] | None = None) -> Path:
    return write_json(path, {
        "counts": counts,
        "label_warnings": warnings or [],
        "rejected": sum(i.severity == "rejected" for v in issues_by_split.values() for i in v),
        "warnings": sum(i.severity == "warning" for v in issues_by_split.values() for i in v),
        "issues": {s: issues_to_json(v) for s, v in issues_by_split.items()},
    })
