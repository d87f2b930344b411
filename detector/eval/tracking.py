"""Tracking metrics: HOTA (Luiten et al., IJCV 2021), CLEAR MOT (MOTA, id switches) and Identity (IDF1) of
MOTChallenge-format results against ground truth in MOTChallenge's layout, by TrackEval (the reference
implementation, MIT; PyPI ``trackeval``), nothing re-implemented here. Any tool's MOT txt is scored the same
way (``tools/val_track.py``).

Ground truth: ``<gt>/<seq>/gt/gt.txt`` (+ ``seqinfo.ini`` with ``seqLength``), e.g. ``tools/make_tracks.py``'s
task or a MOT17 train sequence. Results: ``<pred>/<seq>.txt`` rows ``frame,id,x,y,w,h,conf,-1,-1,-1``
(what ``tools/detect.py --track`` writes under ``tracks/``).

Id switches in crossings (``IDSW_cross``): of CLEAR's id switches, those of a person whose box overlaps another
visible person's (IoU >= ``CROSS_IOU``) in the frame of the switch or of the person's last match before it —
people crossing or passing behind each other. Counted on TrackEval's own CLEAR matching (the assignments it makes,
recorded as it runs), so the total always equals its IDSW.
"""
from __future__ import annotations

import configparser
import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_convert, box_iou

CROSS_IOU = 0.3

KEYS = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP", "IDF1", "IDP", "IDR", "IDSW", "IDSW_cross", "Frag", "TP", "FP", "FN",
        "GT_IDs", "IDs")


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
    metrics = [trackeval.metrics.HOTA(), _clear_with_crossings(trackeval)({"THRESHOLD": 0.5, "PRINT_CONFIG": False}),
               trackeval.metrics.Identity({"THRESHOLD": 0.5, "PRINT_CONFIG": False})]
    with contextlib.redirect_stdout(io.StringIO()):
        res, _ = trackeval.Evaluator(eval_cfg).evaluate([trackeval.datasets.MotChallenge2DBox(dataset_cfg)], metrics)
    per_seq = res["MotChallenge2DBox"][pred.name]
    return {seq: _flatten(r["pedestrian"]) for seq, r in per_seq.items()}


def _clear_with_crossings(trackeval):
    """TrackEval's CLEAR metric, its numbers unchanged, that also counts ``IDSW_cross`` from the assignments its
    own matching made (its module's ``linear_sum_assignment`` is wrapped while a sequence is scored)."""
    from trackeval.metrics import clear as clear_module

    class CLEAR(trackeval.metrics.CLEAR):
        def __init__(self, config=None):
            super().__init__(config)
            self.integer_fields = self.integer_fields + ["IDSW_cross"]
            self.fields = self.fields + ["IDSW_cross"]
            self.summed_fields = self.summed_fields + ["IDSW_cross"]

        def eval_sequence(self, data):
            calls, solve = [], clear_module.linear_sum_assignment

            def recorded(neg_score):
                rows, cols = solve(neg_score)
                calls.append((-neg_score, rows, cols))
                return rows, cols

            clear_module.linear_sum_assignment = recorded
            try:
                res = super().eval_sequence(data)
            finally:
                clear_module.linear_sum_assignment = solve
            switches, crossing = _switches(data, calls)
            if switches != res["IDSW"]:  # the replay must be TrackEval's own count, else the split means nothing
                warnings.warn(f"IDSW_cross left out: replaying TrackEval's matching gave {switches} id switches, "
                              f"it counted {res['IDSW']} (another TrackEval version?)", stacklevel=2)
                crossing = float("nan")
            res["IDSW_cross"] = crossing
            return res

    return CLEAR


def _switches(data: dict, calls: list) -> tuple[int, int]:
    """(id switches, of them in a crossing), replaying CLEAR's per-frame assignments ``calls`` (score matrix,
    rows, cols; one per frame with both people and tracker boxes) over TrackEval's preprocessed ``data``."""
    if data["num_tracker_dets"] == 0 or data["num_gt_dets"] == 0:
        return 0, 0
    crowded = []  # per frame: {gt id: overlaps another person}
    for ids, boxes in zip(data["gt_ids"], data["gt_dets"]):
        if len(ids) < 2:
            crowded.append(dict.fromkeys(ids.tolist(), False))
            continue
        iou = box_iou(*(box_convert(torch.as_tensor(boxes, dtype=torch.float64), "xywh", "xyxy"),) * 2)
        iou.fill_diagonal_(0)
        crowded.append(dict(zip(ids.tolist(), (iou.max(1).values >= CROSS_IOU).tolist())))
    last: dict[int, tuple[int, int]] = {}  # gt id -> (tracker id, frame) of its last match
    switches = crossing = 0
    step = iter(calls)
    for t, (gt_ids, trk_ids) in enumerate(zip(data["gt_ids"], data["tracker_ids"])):
        if len(gt_ids) == 0 or len(trk_ids) == 0:
            continue
        score, rows, cols = next(step)
        keep = score[rows, cols] > np.finfo("float").eps
        for g, h in zip(gt_ids[rows[keep]].tolist(), trk_ids[cols[keep]].tolist()):
            if g in last and last[g][0] != h:
                switches += 1
                crossing += crowded[last[g][1]][g] or crowded[t][g]
            last[g] = (h, t)
    return switches, crossing


def _flatten(r: dict) -> dict:
    h, c, i = r["HOTA"], r["CLEAR"], r["Identity"]
    out = {"HOTA": h["HOTA"], "DetA": h["DetA"], "AssA": h["AssA"], "LocA": h["LocA"], "MOTA": c["MOTA"],
           "MOTP": c["MOTP"], "IDF1": i["IDF1"], "IDP": i["IDP"], "IDR": i["IDR"], "IDSW": c["IDSW"],
           "IDSW_cross": c.get("IDSW_cross"),
           "Frag": c["Frag"], "TP": c["CLR_TP"], "FP": c["CLR_FP"], "FN": c["CLR_FN"]}
    if "Count" in r:
        out.update(GT_IDs=r["Count"].get("GT_IDs"), IDs=r["Count"].get("IDs"))
    return {k: float(np.mean(v)) if isinstance(v, np.ndarray) else float(v) for k, v in out.items() if v is not None}


def format_table(scores: dict[str, dict]) -> str:
    """A Markdown table: one row per sequence and COMBINED; rates in percent as MOTChallenge prints them."""
    cols = ["HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "IDSW_cross", "FP", "FN"]
    lines = ["| sequence | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for seq, m in scores.items():
        cells = [f"{100 * m[k]:.1f}" if k in ("HOTA", "DetA", "AssA", "MOTA", "IDF1") else f"{m[k]:.0f}" for k in cols]
        lines.append(f"| {seq} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
