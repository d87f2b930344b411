"""Ablation outputs: ``ablation.csv`` (one row per run), ``ablation.md`` (per model: mean ± std and a
95 % interval over seeds, paired difference to the first model), ``ablation.png`` (bars, error bars)."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..ops.nms import IOU_THRES, MAX_DET, VAL_CONF
from ..utils.io import atomic_write, write_text
from .keys import main_key
from .stats import paired, summarize

MAIN = ("mAP50-95", "mAP50", "crowded_recall50")


def _by_model(rows: list[dict], col: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for r in rows:
        v = r.get(col)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out.setdefault(r["model"], {})[int(r["seed"])] = float(v)
    return out


def write_csv(path: Path, rows: list[dict]) -> Path:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in sorted(rows, key=lambda r: (r["source"] != "ours", str(r["model"]), int(r["seed"]))):
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return write_text(path, buf.getvalue())


def table(rows: list[dict], costs: dict, order: list[str], method: str) -> str:
    """Markdown: one line per model with mAP50-95 / mAP50 / crowded recall over seeds, the paired Δ
    mAP50-95 vs the first model, and the model's cost."""
    order = [m for m in order if any(r["model"] == m for r in rows)]
    if not order:
        return "(no finished runs)\n"
    maps = _by_model(rows, f"{method}:mAP50-95")
    ref = order[0]
    head = ("| model | seeds | mAP50-95 mean ± std [95 % CI] | mAP50 | crowded recall@0.5 | Δ mAP50-95 vs "
            f"{ref} (paired) | params (M) | GFLOPs@640 | CPU ms |\n|---|---:|---|---|---|---|---:|---:|---:|\n")
    lines = []
    for m in order:
        at = method[method.index("@"):] if "@" in method else ""
        own = method if m in maps else f"greedy{at}"  # a peer has only its own (greedy) NMS
        s = {k: summarize(list(_by_model(rows, f"{own}:{k}").get(m, {}).values())) for k in MAIN}
        mine = _by_model(rows, f"{own}:mAP50-95").get(m, {})
        d = "(reference)" if m == ref else paired(mine, maps.get(ref, {})).fmt()
        c = costs.get(m, {})
        f = (lambda k, fmt: format(c[k], fmt) if isinstance(c.get(k), (int, float)) else "–")
        name = m if own == method else f"{m} (its own {own})"
        lines.append(f"| {name} | {s['mAP50-95'].n} | {s['mAP50-95'].fmt()} | {s['mAP50'].fmt(3).split(' [')[0]} | "
                     f"{s['crowded_recall50'].fmt(3).split(' [')[0]} | {d} | {f('params_M', '.2f')} | "
                     f"{f('gflops640', '.2f')} | {f('latency_ms', '.1f')} |")
    return head + "\n".join(lines) + "\n"


def nms_table(rows: list[dict], order: list[str], methods: list[str]) -> str:
    """Markdown: per model and NMS method, mAP50-95, recall@0.5 and crowded recall@0.5 (mean ± std)."""
    lines = ["| model | NMS | mAP50-95 | recall@0.5 | crowded recall@0.5 | Δ crowded recall vs "
             f"{methods[0]} (paired) |", "|---|---|---|---|---|---|"]
    for m in order:
        base = _by_model(rows, f"{methods[0]}:crowded_recall50").get(m, {})
        for meth in methods:
            vals = {k: _by_model(rows, f"{meth}:{k}").get(m, {}) for k in ("mAP50-95", "recall50", "crowded_recall50")}
            if not vals["mAP50-95"]:
                continue
            s = {k: summarize(list(v.values())) for k, v in vals.items()}
            d = "–" if meth == methods[0] else paired(vals["crowded_recall50"], base).fmt(3)
            lines.append(f"| {m} | {meth} | {s['mAP50-95'].fmt().split(' [')[0]} | {s['recall50'].fmt(3).split(' [')[0]} | "
                         f"{s['crowded_recall50'].fmt(3).split(' [')[0]} | {d} |")
    return "\n".join(lines) + "\n"


CROWD = ("mAP50-95", "mAP50", "crowded_recall50", "crowded_AP50", "MR-2")


def best_iou(rows: list[dict], model: str, method: str, ious: list[float], metric: str = "mAP50") -> float | None:
    """The sweep's IoU threshold with the highest seed-mean ``metric`` for one model and method."""
    best = None
    for t in ious:
        v = _by_model(rows, f"{method}@{t:g}:{metric}").get(model, {})
        if v:
            m = sum(v.values()) / len(v)
            if best is None or m > best[0]:
                best = (m, t)
    return None if best is None else best[1]


def crowd_table(rows: list[dict], order: list[str], methods: list[str], ious: list[float]) -> str:
    """Markdown: each model and NMS method at its best IoU threshold of the sweep (highest mean AP50), with
    the crowd metrics and the paired difference to the first method at its own best threshold; then the
    whole sweep (means over seeds)."""
    lines = [f"| model | NMS | best IoU | mAP50-95 | AP50 | crowded recall@0.5 | crowded AP50 | MR-2 | Δ AP50 vs "
             f"{methods[0]} | Δ crowded recall vs {methods[0]} | Δ MR-2 vs {methods[0]} |",
             "|---|---|---:|---|---|---|---|---|---|---|---|"]
    sweep = ["| model | NMS | IoU | mAP50-95 | AP50 | crowded recall@0.5 | crowded AP50 | MR-2 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    mean = (lambda d: sum(d.values()) / len(d) if d else float("nan"))
    for m in order:
        t0 = best_iou(rows, m, methods[0], ious)
        base = {k: _by_model(rows, f"{methods[0]}@{t0:g}:{k}").get(m, {}) for k in CROWD} if t0 is not None else {}
        for meth in methods:
            t = best_iou(rows, m, meth, ious)
            if t is None:
                continue
            vals = {k: _by_model(rows, f"{meth}@{t:g}:{k}").get(m, {}) for k in CROWD}
            s = {k: summarize(list(v.values())) for k, v in vals.items()}
            d = {k: ("–" if meth == methods[0] else paired(vals[k], base.get(k, {})).fmt(3))
                 for k in ("mAP50", "crowded_recall50", "MR-2")}
            lines.append(f"| {m} | {meth} | {t:g} | " + " | ".join(s[k].fmt(3 if k != "mAP50-95" else 4).split(" [")[0]
                                                                   for k in CROWD)
                         + f" | {d['mAP50']} | {d['crowded_recall50']} | {d['MR-2']} |")
            for u in ious:
                v = {k: mean(_by_model(rows, f"{meth}@{u:g}:{k}").get(m, {})) for k in CROWD}
                sweep.append(f"| {m} | {meth} | {u:g}{' (best)' if u == t else ''} | "
                             + " | ".join(f"{v[k]:.4f}" for k in CROWD) + " |")
    return "\n".join(lines) + "\n\nThe sweep (mean over seeds):\n\n" + "\n".join(sweep) + "\n"


def plot(path: Path, rows: list[dict], order: list[str], method: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    order = [m for m in order if any(r["model"] == m for r in rows)]
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.3 * len(order)) * 2, 4))
    for ax, k in zip(axes, ("mAP50-95", "mAP50")):
        by = _by_model(rows, f"{method}:{k}")
        ss = [summarize(list(by.get(m, {}).values())) for m in order]
        means = [s.mean for s in ss]
        errs = [0.0 if math.isnan(s.std) else s.std for s in ss]
        ax.bar(range(len(order)), means, yerr=errs, capsize=4, color="#4c72b0")
        for i, m in enumerate(order):  # each seed as a dot
            ys = list(by.get(m, {}).values())
            ax.scatter([i] * len(ys), ys, color="k", s=10, zorder=3)
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels(order, rotation=30, ha="right")
        ax.set_ylabel(f"{k} (mean ± std over seeds, {method} NMS)")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def write_reports(root: Path, rows: list[dict], costs: dict, cfg, order: list[str]) -> dict:
    root = Path(root)
    r = cfg.recipe
    method = main_key(cfg)
    paths = {"csv": write_csv(root / "ablation.csv", rows)}
    cmd = (f"python tools/ablate.py --cfgs {' '.join(cfg.cfgs)} --data {r.data} --epochs {r.epochs} --img {r.img} "
           f"--batch {r.batch} --seeds {' '.join(map(str, cfg.seeds))} --nms {' '.join(cfg.nms)}"
           + (f" --nms-iou {' '.join(f'{t:g}' for t in cfg.nms_iou)}" if cfg.nms_iou else "")
           + (f" --hyp {r.hyp}" if r.hyp else "") + (f" --weights {r.weights}" if r.weights else "")
           + (f" --optimizer {r.optimizer}" if getattr(r, "optimizer", "SGD") != "SGD" else "")
           + (f" --freeze {r.freeze}" if getattr(r, "freeze", 0) else "")
           + (f" --teacher {r.teacher} --distill {r.distill} --distill-loss {r.distill_loss} --distill-gain "
              f"{r.distill_gain:g}" if getattr(r, "teacher", None) else "")
           + (f" --peers {' '.join(cfg.peers)}" if cfg.peers else "") + f" --project {cfg.project} --name {cfg.name}")
    md = [f"# Ablation: {cfg.name}", "", f"```\n{cmd}\n```", "",
          f"Data `{r.data}`, {r.epochs} epochs, img {r.img}, batch {r.batch}, seeds {cfg.seeds}; every run scored "
          f"by pycocotools on the val split (final EMA weights, conf {VAL_CONF}, IoU {IOU_THRES}, "
          f"max {MAX_DET} detections). "
          f"Main table: {method} NMS (peers: their own NMS at the same settings). Interval: 95 % Student-t over "
          "seeds; Δ: mean of per-seed differences with its 95 % interval. Crowded ground truth: boxes whose "
          "highest same-class IoU with another box is >= 0.5. Params / GFLOPs at 80 classes, 640 px; CPU ms: "
          f"fused, batch 1, {r.img} px, interleaved.", "", table(rows, costs, order, method)]
    if len(cfg.nms) > 1 and not cfg.nms_iou:
        md += ["", "## NMS methods (re-evaluation of the same weights)", "", nms_table(rows, order, cfg.nms)]
    if cfg.nms_iou:
        md += ["", "## NMS methods at their best IoU threshold, crowd metrics (re-evaluation of the same weights)",
               "", "Crowded: ground truth whose highest same-class IoU is >= 0.5; crowded AP50 ignores detections "
               "matched to the other ground truth; MR-2: log-average miss rate over FPPI 0.01-1 (lower is better).",
               "", crowd_table(rows, order, cfg.nms, cfg.nms_iou)]
    paths["md"] = write_text(root / "ablation.md", "\n".join(md))
    p = plot(root / "ablation.png", rows, order, method)
    if p:
        paths["png"] = p
    return paths
