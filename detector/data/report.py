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


def write_report(path: str | Path, issues_by_split: dict[str, list[Issue]], counts: dict[str, dict[str, int]]) -> Path:
    return write_json(path, {
        "counts": counts,
        "rejected": sum(i.severity == "rejected" for v in issues_by_split.values() for i in v),
        "warnings": sum(i.severity == "warning" for v in issues_by_split.values() for i in v),
        "issues": {s: issues_to_json(v) for s, v in issues_by_split.items()},
    })
