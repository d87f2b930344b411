"""``tools/ablate.py --compare``: two ablation projects made with different recipes, compared per model
and seed (paired), with the recipe differences named and non-comparable projects refused."""
import json
import sys

import pytest

from detector.ablation.compare import compare
from detector.hyp import DEFAULT_HYP

from ..conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import ablate  # noqa: E402

RECIPE = {"data": "d.yaml", "epochs": 20, "img": 320, "batch": 16, "workers": 2, "hyp": None,
          "val_period": None, "device": "cpu", "max_batches": None}


def _project(root, values, source="ours", **recipe):
    """values: {model: {seed: mAP50-95}} written as finished runs of one project."""
    root.mkdir(parents=True)
    (root / "recipe.json").write_text(json.dumps({**RECIPE, **recipe}))
    for model, seeds in values.items():
        for seed, v in seeds.items():
            d = root / ("runs" if source == "ours" else "peers") / f"{model}-s{seed}"
            d.mkdir(parents=True)
            (d / "ablation_run.json").write_text(json.dumps(
                {"model": model, "source": source, "seed": seed, "greedy:mAP50-95": v, "greedy:mAP50": v + 0.2}))
    return root


def test_paired_difference_over_common_seeds(tmp_path):
    hyp = tmp_path / "ciou.yaml"
    hyp.write_text("tal_ciou: true\nlr0: 0.02\n")
    a = _project(tmp_path / "a", {"m1": {0: 0.50, 1: 0.60, 2: 0.70}, "m2": {0: 0.4}})
    b = _project(tmp_path / "b", {"m1": {0: 0.55, 1: 0.62}, "m2": {0: 0.3}}, hyp=str(hyp))
    md = compare([a, b])
    row = next(line for line in md.splitlines() if line.startswith("| m1 "))
    # m1: seeds 0 and 1 in common, differences +0.05 and +0.02 -> mean +0.035, higher in 2/2
    assert "0.6000 ± 0.1000 (0, 1, 2)" in row and "0.5850 ± 0.0495 (0, 1)" in row
    assert "+0.0350 [" in row and "higher in 2/2 seeds" in row
    assert "-0.1000 (1 seed)" in next(line for line in md.splitlines() if line.startswith("| m2 "))
    assert "lr0 0.01 -> 0.02" in md and "tal_ciou False -> True" in md


def test_older_project_compared_with_its_old_defaults(tmp_path):
    a = _project(tmp_path / "a", {"m": {0: 0.5}})  # recipe.json without hyp values: made before warmup_accumulate
    b = _project(tmp_path / "b", {"m": {0: 0.6}}, hyp_values=dict(DEFAULT_HYP))  # today's recorded defaults
    assert "- project 2 vs 1: warmup_accumulate False -> True\n" in compare([a, b])
    c = _project(tmp_path / "c", {"m": {0: 0.6}}, hyp_values={"lr0": 0.01})  # recorded before the other keys
    assert "- project 2 vs 1: same recipe" in compare([a, c])  # missing keys: their values before they existed


def test_other_metric_and_peers_listed_after_ours(tmp_path):
    a = _project(tmp_path / "a", {"ours1": {0: 0.5}})
    (tmp_path / "a" / "peers" / "yolov8n-s0").mkdir(parents=True)
    (tmp_path / "a" / "peers" / "yolov8n-s0" / "ablation_run.json").write_text(json.dumps(
        {"model": "yolov8n", "source": "ultralytics", "seed": 0, "greedy:mAP50-95": 0.4, "greedy:mAP50": 0.6}))
    b = _project(tmp_path / "b", {"ours1": {0: 0.6}})
    md = compare([a, b], metric="mAP50")
    models = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert models == ["ours1", "yolov8n"]
    assert "+0.1000 (1 seed)" in md and "- project 2 vs 1: same recipe" in md


def test_projects_with_another_schedule_are_refused(tmp_path):
    a = _project(tmp_path / "a", {"m": {0: 0.5}})
    b = _project(tmp_path / "b", {"m": {0: 0.6}}, epochs=10)
    with pytest.raises(ValueError, match=r"differs in epochs \(20 vs 10\)"):
        compare([a, b])
    with pytest.raises(ValueError, match="not an ablation project"):
        compare([a, tmp_path])


def test_cli_compare_writes_the_table(tmp_path, capsys):
    a = _project(tmp_path / "a", {"m": {0: 0.5, 1: 0.5}})
    b = _project(tmp_path / "b", {"m": {0: 0.6, 1: 0.7}})
    out = tmp_path / "cmp.md"
    assert ablate.main(["--compare", str(a), str(b), "--out", str(out)]) == 0
    assert "+0.1500 [" in out.read_text() and "+0.1500" in capsys.readouterr().out
    assert ablate.main(["--compare", str(a), str(tmp_path / "missing")]) == 2
    assert "not an ablation project" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ablate.parse(["--compare", str(a)])
    with pytest.raises(SystemExit):
        ablate.parse(["--data", "x.yaml"])  # neither --cfgs nor --compare
