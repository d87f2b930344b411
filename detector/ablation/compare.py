"""Compare two or more ablation projects run per recipe variant (e.g. default hyperparameters vs a
changed one): per model, each project's mean ± std over seeds and the paired per-seed difference to the
first project, over the seeds both finished.

  detector-ablate --compare runs/ablate/synth runs/ablate/synth_ciou [--metric mAP50-95] [--nms greedy]

Only projects with the same data, epochs, image size and batch are compared (anything else would not be a
controlled comparison); what does differ between their recipes (``--hyp`` file and the hyperparameters in
it, validation period, ...) is listed above the table.
"""
from __future__ import annotations

import json
from pathlib import Path

from .stats import paired, summarize

SHARED = ("data", "epochs", "img", "batch")  # must be equal for the comparison to mean anything


def load_project(root: str | Path) -> tuple[dict, list[dict]]:
    """(recipe, rows) of one ablation project: ``recipe.json`` and every finished run's
    ``ablation_run.json`` (ours and peers)."""
    root = Path(root)
    p = root / "recipe.json"
    if not p.is_file():
        raise ValueError(f"{root}: not an ablation project (no recipe.json)")
    recipe = json.loads(p.read_text(encoding="utf-8"))
    rows = [json.loads(f.read_text(encoding="utf-8")) for f in sorted(root.rglob("ablation_run.json"))]
    return recipe, sorted(rows, key=lambda r: r.get("source") != "ours")  # ours first, then peers


def _hyp_values(recipe: dict) -> dict:
    from ..config import ConfigError
    from .runner import recipe_hyp_values

    try:
        return recipe_hyp_values(recipe)
    except (ConfigError, OSError) as e:  # a hyp file since moved or deleted: name it, compare the rest
        return {"(hyp file unreadable)": f"{recipe.get('hyp')}: {e}"}


def recipe_differences(recipes: list[dict]) -> list[str]:
    """Sentences naming what differs from the first recipe, hyperparameter values included."""
    out = []
    ref, ref_h = recipes[0], _hyp_values(recipes[0])
    for i, r in enumerate(recipes[1:], 1):
        keys = sorted(k for k in set(ref) | set(r) if k not in ("hyp", "hyp_values") and ref.get(k) != r.get(k))
        h = _hyp_values(r)
        hkeys = sorted(k for k in set(ref_h) | set(h) if ref_h.get(k) != h.get(k))
        parts = [f"{k} {ref.get(k)!r} -> {r.get(k)!r}" for k in keys]
        parts += [f"{k} {ref_h.get(k)!r} -> {h.get(k)!r}" for k in hkeys]
        out.append(f"project {i + 1} vs 1: " + ("; ".join(parts) if parts else "same recipe"))
    return out


def compare(roots: list[str | Path], metric: str = "mAP50-95", nms: str | None = None) -> str:
    """Markdown comparing the projects ``roots`` (the first is the reference)."""
    if len(roots) < 2:
        raise ValueError("--compare needs at least two ablation projects")
    loaded = [load_project(r) for r in roots]
    recipes = [rc for rc, _ in loaded]
    for r, rc in zip(roots[1:], recipes[1:]):
        bad = [k for k in SHARED if rc.get(k) != recipes[0].get(k)]
        if bad:
            raise ValueError(f"{r}: not comparable with {roots[0]}: differs in "
                             + ", ".join(f"{k} ({recipes[0].get(k)!r} vs {rc.get(k)!r})" for k in bad))
    if nms is None:  # the first NMS method the reference project's rows carry
        nms = next((k.split(":")[0] for row in loaded[0][1] for k in row if k.endswith(f":{metric}")), "greedy")
    col = f"{nms}:{metric}"
    by = [{} for _ in loaded]  # per project: model -> {seed: value}
    for d, (_, rows) in zip(by, loaded):
        for row in rows:
            if row.get(col) is not None:
                d.setdefault(row["model"], {})[int(row["seed"])] = float(row[col])
    models = list(dict.fromkeys(m for d in by for m in d))
    names = [Path(r).name for r in roots]
    r0 = recipes[0]
    lines = [f"Comparison of {', '.join(f'`{r}`' for r in roots)}: data `{r0.get('data')}`, {r0.get('epochs')} epochs, "
             f"img {r0.get('img')}, batch {r0.get('batch')}; {metric} with {nms} NMS; Δ: mean of per-seed "
             "differences to the first project over the seeds both finished, with its 95 % interval.", ""]
    lines += [f"- {s}" for s in recipe_differences(recipes)] + [""]
    head = "| model | " + " | ".join(f"{n} (seeds)" for n in names) + " | " + \
        " | ".join(f"Δ {n} vs {names[0]} (paired)" for n in names[1:]) + " |"
    lines += [head, "|---|" + "---|" * (2 * len(names) - 1)]
    for m in models:
        cells = []
        for d in by:
            v = d.get(m, {})
            s = summarize(list(v.values()))
            cells.append("–" if s.n == 0 else f"{s.fmt().split(' [')[0]} ({', '.join(map(str, sorted(v)))})")
        deltas = [paired(d.get(m, {}), by[0].get(m, {})).fmt() for d in by[1:]]
        lines.append(f"| {m} | " + " | ".join(cells) + " | " + " | ".join(deltas) + " |")
    return "\n".join(lines) + "\n"
