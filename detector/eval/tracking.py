"""Tracking metrics: HOTA (Luiten et al., IJCV 2021), CLEAR MOT (MOTA, id switches) and Identity (IDF1) of
MOTChallenge-format results against ground truth in MOTChallenge's layout, by TrackEval (the reference
implementation, MIT; PyPI ``trackeval``), nothing re-implemented here. Any tool's MOT txt is scored the same
way (``tools/val_track.py``).

Ground truth: ``<gt>/<seq>/gt/gt.txt`` (+ ``seqinfo.ini`` with ``seqLength``), e.g. ``tools/make_tracks.py``'s
task or a MOT17 train sequence. Results: ``<pred>/<seq>.txt`` rows ``frame,id,x,y,w,h,conf,-1,-1,-1``
(what ``tools/detect.py --track`` writes under ``tracks/``).
"""
from __future__ import annotations

import configparser
import contextlib
import io
from pathlib import Path

import numpy as np

KEYS = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP", "IDF1", "IDP", "IDR", "IDSW", "Frag", "FP", "FN", "GT_IDs",
        "IDs")


def _sequences(gt: Path) -> dict[str, int]:
    """{sequence: number of frames} of every ``<gt>/<seq>/gt/gt.txt`` (length from seqinfo.ini, else the last
    frame in gt.txt)."""
    seqs = {}
    for g in sorted(gt.glob("*/gt/gt.txt")):
        seq = g.parent.parent
        ini = seq / "seqinfo.ini"
        n = None
        if ini.is_file():
            cp = configparser.ConfigParser()
            cp.read(ini)
            n = cp.getint("Sequence", "seqLength", fallback=None)
        if n is None:
            rows = np.loadtxt(g, delimiter=",", ndmin=2)
            n = int(rows[:, 0].max()) if len(rows) else 1
        seqs[seq.name] = n
    return seqs


def score_tracks(gt: str | Path, pred: str | Path, sequences: list[str] | None = None) -> dict[str, dict]:
    """{sequence: {metric: value}, ..., 'COMBINED': {...}} for pedestrians (MOTChallenge class 1), IoU 0.5 for
    CLEAR and Identity, HOTA averaged over IoU 0.05-0.95 as defined. Rates are fractions (0-1)."""
    try:
        import trackeval
    except ImportError:
        raise ImportError("tracking metrics need TrackEval: pip install trackeval (or pip install \".[track]\")") from None
    gt, pred = Path(gt), Path(pred)
    seqs = _sequences(gt)
    if not seqs:
        raise ValueError(f"{gt}: no ground truth (<seq>/gt/gt.txt) found")
    if sequences:
        unknown = sorted(set(sequences) - set(seqs))
        if unknown:
            raise ValueError(f"{gt}: no ground truth for {unknown} (has {sorted(seqs)})")
        seqs = {s: seqs[s] for s in sequences}
    missing = [s for s in seqs if not (pred / f"{s}.txt").is_file()]
    if missing:
        raise ValueError(f"{pred}: no results for {missing} (expected {pred}/<sequence>.txt)")
    dataset_cfg = {"GT_FOLDER": str(gt), "TRACKERS_FOLDER": str(pred.parent), "TRACKERS_TO_EVAL": [pred.name],
                   "TRACKER_SUB_FOLDER": "", "SKIP_SPLIT_FOL": True, "SEQ_INFO": seqs, "PRINT_CONFIG": False,
                   "OUTPUT_FOLDER": None, "CLASSES_TO_EVAL": ["pedestrian"]}
    eval_cfg = {"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "OUTPUT_SUMMARY": False,
                "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "TIME_PROGRESS": False, "DISPLAY_LESS_PROGRESS": True,
                "PRINT_ONLY_COMBINED": True, "OUTPUT_EMPTY_CLASSES": False, "BREAK_ON_ERROR": True,
                "RETURN_ON_ERROR": False, "LOG_ON_ERROR": None}
    metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"THRESHOLD": 0.5, "PRINT_CONFIG": False}),
               trackeval.metrics.Identity({"THRESHOLD": 0.5, "PRINT_CONFIG": False})]
    with contextlib.redirect_stdout(io.StringIO()):
        res, _ = trackeval.Evaluator(eval_cfg).evaluate([trackeval.datasets.MotChallenge2DBox(dataset_cfg)], metrics)
    per_seq = res["MotChallenge2DBox"][pred.name]
    return {seq: _flatten(r["pedestrian"]) for seq, r in per_seq.items()}


def _flatten(r: dict) -> dict:
    h, c, i = r["HOTA"], r["CLEAR"], r["Identity"]
    out = {"HOTA": h["HOTA"], "DetA": h["DetA"], "AssA": h["AssA"], "LocA": h["LocA"], "MOTA": c["MOTA"],
           "MOTP": c["MOTP"], "IDF1": i["IDF1"], "IDP": i["IDP"], "IDR": i["IDR"], "IDSW": c["IDSW"],
           "Frag": c["Frag"], "FP": c["CLR_FP"], "FN": c["CLR_FN"]}
    if "Count" in r:
        out.update(GT_IDs=r["Count"].get("GT_IDs"), IDs=r["Count"].get("IDs"))
    return {k: float(np.mean(v)) if isinstance(v, np.ndarray) else float(v) for k, v in out.items() if v is not None}


def format_table(scores: dict[str, dict]) -> str:
    """A Markdown table: one row per sequence and COMBINED; rates in percent as MOTChallenge prints them."""
    cols = ["HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "FP", "FN"]
    lines = ["| sequence | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for seq, m in scores.items():
        cells = [f"{100 * m[k]:.1f}" if k in ("HOTA", "DetA", "AssA", "MOTA", "IDF1") else f"{m[k]:.0f}" for k in cols]
        lines.append(f"| {seq} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
