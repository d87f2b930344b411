"""tools/ablate.py on tiny data: 2 cfgs x 2 seeds x 1 short epoch; the tables' arithmetic is checked
against the per-run metrics; reruns skip finished runs; a stand-in for the Ultralytics CLI checks
that a peer's results file (stem image ids, class + 1) is scored by our evaluator."""
import csv
import json
import math
import os
import re
import stat
import sys

import pytest

from detector.ablation.compare import compare
from detector.ablation.stats import paired, summarize

from ..conftest import CFG_DIR, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import ablate  # noqa: E402

CFGS = [str(CFG_DIR / "yolo_base.yaml"), str(CFG_DIR / "yolo_ca_bifpn.yaml")]

FAKE_YOLO = '''#!{python}
"""Stand-in for the Ultralytics CLI: 'train' writes results.csv and last.pt; 'val' writes the ground
truth of the YOLO copy as predictions.json in Ultralytics' conventions (a perfect model)."""
import json, sys
from pathlib import Path
import cv2, yaml
a = dict(x.split("=", 1) for x in sys.argv[3:])
if "resume" in a:
    sys.exit("resume needs a download")  # as Ultralytics' resume does offline
if sys.argv[2] == "train":
    d = Path(a["project"]) / a["name"]
    (d / "weights").mkdir(parents=True, exist_ok=True)
    (d / "weights" / "last.pt").write_bytes(b"stand-in")
    (d / "results.csv").write_text("epoch\\n" + "".join(f"{{e}}\\n" for e in range(1, int(a["epochs"]) + 1)))
    print("YOLOv8n summary: 129 layers, 3,011,628 parameters, 3,011,612 gradients, 8.2 GFLOPs")
else:
    data = yaml.safe_load(open(a["data"]))
    rows = []
    for img in sorted((Path(data["path"]) / data["val"]).iterdir()):
        h, w = cv2.imread(str(img)).shape[:2]
        lbl = Path(data["path"]) / "labels" / "val" / (img.stem + ".txt")
        for line in lbl.read_text().splitlines():
            c, x, y, bw, bh = map(float, line.split())
            rows.append({{"image_id": int(img.stem) if img.stem.isnumeric() else img.stem, "category_id": int(c) + 1,
                         "bbox": [(x - bw / 2) * w, (y - bh / 2) * h, bw * w, bh * h], "score": 0.9}})
    d = Path(a["project"]) / a["name"]
    d.mkdir(parents=True, exist_ok=True)
    (d / "predictions.json").write_text(json.dumps(rows))
'''


@pytest.fixture(scope="module")
def ablation(tiny_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ablate")
    fake = tmp / "yolo"
    fake.write_text(FAKE_YOLO.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    argv = ["--cfgs", *CFGS, "--data", str(tiny_data), "--epochs", "1", "--img", "64", "--batch", "4",
            "--seeds", "0", "1", "--nms", "greedy", "adaptive", "--workers", "0", "--latency-runs", "1",
            "--max-batches", "1", "--peers", "yolov8n", "--yolo", str(fake), "--project", str(tmp), "--name", "t"]
    assert ablate.main(argv) == 0
    return tmp / "t", argv


def _rows(root):
    return list(csv.DictReader(open(root / "ablation.csv")))


def test_outputs_and_one_row_per_run(ablation):
    root, _ = ablation
    for f in ("ablation.csv", "ablation.md", "ablation.png", "costs.json", "recipe.json"):
        assert (root / f).is_file(), f
    rows = _rows(root)
    assert sorted((r["model"], r["seed"]) for r in rows) == [
        ("yolo_base", "0"), ("yolo_base", "1"), ("yolo_ca_bifpn", "0"), ("yolo_ca_bifpn", "1"),
        ("yolov8n", "0"), ("yolov8n", "1")]
    costs = json.loads((root / "costs.json").read_text())
    assert costs["yolo_base"]["gflops640"] == pytest.approx(8.7, abs=0.1) and costs["yolo_base"]["latency_ms"] > 0


def test_rows_equal_each_runs_own_evaluation(ablation):
    root, _ = ablation
    for r in _rows(root):
        if r["source"] != "ours":
            continue
        for meth in ("greedy", "adaptive"):
            m = json.loads((root / "runs" / f"{r['model']}-s{r['seed']}" / "eval" / meth / "metrics.json").read_text())
            assert float(r[f"{meth}:mAP50-95"]) == pytest.approx(m["mAP50-95"], abs=1e-6)
            assert float(r[f"{meth}:recall50"]) == pytest.approx(m["recall50"], abs=1e-6)


def test_table_arithmetic(ablation):
    root, _ = ablation
    rows = _rows(root)
    md = (root / "ablation.md").read_text()
    by = {}
    for r in rows:
        by.setdefault(r["model"], {})[int(r["seed"])] = float(r["greedy:mAP50-95"])
    for model, vals in by.items():
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| {model} |"))
        s = summarize(list(vals.values()))
        assert f"| {s.fmt()} |" in line
        if model != "yolo_base":
            assert paired(vals, by["yolo_base"]).fmt() in line


def test_peer_results_scored_by_our_evaluator(ablation):
    """The stand-in writes the ground truth in Ultralytics' conventions: it must score 1.0 with ours."""
    root, _ = ablation
    peer = [r for r in _rows(root) if r["model"] == "yolov8n"]
    assert all(r["source"] == "ultralytics" and float(r["greedy:mAP50-95"]) == pytest.approx(1.0) for r in peer)
    assert json.loads((root / "costs.json").read_text()).get("yolov8n") is None  # only ours measured there
    assert "| yolov8n | 2 |" in (root / "ablation.md").read_text() and "3.01" in (root / "ablation.md").read_text()


def test_a_peer_whose_resume_fails_is_trained_again(ablation, capsys):
    root, argv = ablation
    run = root / "peers" / "runs" / "yolov8n-s1"
    (run / "ablation_run.json").unlink()
    (run / "train" / "results.csv").write_text("epoch\n")  # killed before its last epoch
    assert ablate.main(argv) == 0
    out = capsys.readouterr().out
    assert "yolov8n seed 1: resume failed" in out and "training it again from scratch" in out
    assert (run / "ablation_run.json").is_file()


def test_rerun_skips_finished_runs_and_reevaluates_a_missing_one(ablation, capsys):
    root, argv = ablation
    before = _rows(root)
    last = root / "runs" / "yolo_base-s0" / "weights" / "last.pt"
    mtime = os.stat(last).st_mtime_ns
    (root / "runs" / "yolo_base-s1" / "ablation_run.json").unlink()
    assert ablate.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("done, skipped") == 5 and "yolo_base seed 1 (ours): running" in out
    assert os.stat(last).st_mtime_ns == mtime
    after = _rows(root)
    key = lambda r: (r["model"], r["seed"])  # noqa: E731
    for a, b in zip(sorted(before, key=key), sorted(after, key=key)):
        assert a["greedy:mAP50-95"] == b["greedy:mAP50-95"]


def test_other_recipe_under_same_name_is_refused(ablation, capsys):
    _, argv = ablation
    argv = list(argv)
    argv[argv.index("--img") + 1] = "96"
    assert ablate.main(argv) == 2
    assert re.search(r"another recipe .*img", capsys.readouterr().err)


def test_project_of_an_older_version_is_read_with_its_old_hyperparameter_values(ablation, capsys):
    root, argv = ablation
    text = (root / "recipe.json").read_text()
    recipe = json.loads(text)
    assert recipe["hyp_values"]["warmup_accumulate"] is True  # the values are recorded, not only the --hyp path
    del recipe["hyp_values"]  # as written before values were recorded: trained without the warmup ramp
    (root / "recipe.json").write_text(json.dumps(recipe))
    assert ablate.main(list(argv)) == 2  # today's defaults would mix two recipes in one table
    assert re.search(r"another recipe .*warmup_accumulate", capsys.readouterr().err)
    old = root.parent / "old_defaults.yaml"
    old.write_text("warmup_accumulate: false\n")
    try:
        assert ablate.main([*argv, "--hyp", str(old)]) == 0  # the same values through a file: accepted
    finally:
        (root / "recipe.json").write_text(text)  # the module's later tests use this project as made


def test_missing_peer_cli_is_said_and_the_rest_runs(tiny_data, tmp_path, capsys):
    argv = ["--cfgs", CFGS[0], "--data", str(tiny_data), "--epochs", "1", "--img", "64", "--batch", "4", "--seeds", "0",
            "--workers", "0", "--latency-runs", "1", "--max-batches", "1", "--peers", "yolo11n",
            "--yolo", str(tmp_path / "no-such-yolo"), "--project", str(tmp_path), "--name", "p"]
    assert ablate.main(argv) == 0
    assert "no Ultralytics CLI found" in capsys.readouterr().out
    assert [r["model"] for r in _rows(tmp_path / "p")] == ["yolo_base"]
    assert not math.isnan(float(_rows(tmp_path / "p")[0]["greedy:mAP50-95"]))


def test_a_peer_fine_tunes_from_the_checkpoint_it_is_given(tiny_data, tmp_path):
    """--peer-weights NAME=PATH: the peer trains from that checkpoint through its CLI (model=PATH, pretrained,
    its default optimizer), not from its YAML; a name that is not a peer, or no '=', is refused."""
    fake = tmp_path / "yolo"
    fake.write_text(FAKE_YOLO.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    src = tmp_path / "src.pt"
    src.write_bytes(b"stand-in")
    argv = ["--cfgs", CFGS[0], "--data", str(tiny_data), "--epochs", "1", "--img", "64", "--batch", "4", "--seeds", "0",
            "--workers", "0", "--latency-runs", "1", "--max-batches", "1", "--peers", "yolo11n",
            "--peer-weights", f"yolo11n={src}", "--yolo", str(fake), "--project", str(tmp_path), "--name", "ft"]
    assert ablate.main(argv) == 0
    train = [ln for ln in (tmp_path / "ft" / "peers" / "runs" / "yolo11n-s0" / "log.txt").read_text().splitlines()
             if ln.startswith("$") and " train " in ln][0]
    assert f"model={src.resolve()}" in train and "pretrained=True" in train and "optimizer=" not in train
    assert json.loads((tmp_path / "ft" / "recipe.json").read_text())["peer_weights"] == {"yolo11n": str(src)}
    for bad in (["--peer-weights", "yolov8n=x.pt"], ["--peer-weights", "yolo11n"]):
        with pytest.raises(SystemExit):
            ablate.parse(argv[:argv.index("--peer-weights")] + bad)


def test_report_only_tabulates_finished_runs_without_training(ablation, capsys):
    root, argv = ablation
    before = _rows(root)
    argv = [a for a in argv if a not in ("--yolo",)]
    argv = argv[:argv.index("--peers")] + ["--peers", "yolov8n", "--seeds", "0", "1", "7"] + \
        argv[argv.index("--project"):] + ["--report-only"]
    assert ablate.main(argv) == 0
    out = capsys.readouterr().out
    assert "seed 7 (ours): not finished, left out" in out and "running" not in out
    assert not (root / "runs" / "yolo_base-s7").exists()
    assert sorted((r["model"], r["seed"]) for r in _rows(root)) == sorted((r["model"], r["seed"]) for r in before)


def test_rescore_evaluates_finished_runs_again(ablation, capsys):
    """A stale figure in a finished run (e.g. scored by an older evaluator) is replaced by evaluating
    the run again (ours from its weights, a peer from its saved predictions); nothing is trained."""
    root, argv = ablation
    ours, peer = root / "runs" / "yolo_base-s0", root / "peers" / "runs" / "yolov8n-s0"
    before = {(r["model"], r["seed"]): r for r in _rows(root)}
    for d in (ours, peer):
        row = json.loads((d / "ablation_run.json").read_text())
        row["greedy:mAP50-95"], row["greedy:crowded_gt"], row["adaptive:recall50"] = 0.123, 99, 0.123
        (d / "ablation_run.json").write_text(json.dumps(row))
    (ours / "eval" / "greedy" / "metrics.json").unlink()
    argv = [a for a in argv if a != "--yolo"]
    argv = argv[:argv.index("--peers")] + ["--peers", "yolov8n"] + argv[argv.index("--project"):] + ["--rescore"]
    assert ablate.main(argv) == 0
    out = capsys.readouterr().out
    assert "seed 0 (ours): done, scored again" in out and "running" not in out
    assert (ours / "eval" / "greedy" / "metrics.json").is_file()  # evaluated again from the weights
    rows = {(r["model"], r["seed"]): r for r in _rows(root)}
    for key in (("yolo_base", "0"), ("yolov8n", "0")):
        assert float(rows[key]["greedy:mAP50-95"]) == pytest.approx(float(before[key]["greedy:mAP50-95"]), abs=1e-9)
        assert rows[key]["greedy:crowded_gt"] == before[key]["greedy:crowded_gt"]
    assert rows[("yolo_base", "0")]["adaptive:recall50"] == before[("yolo_base", "0")]["adaptive:recall50"]
    assert f"| {summarize([float(rows[('yolo_base', s)]['greedy:mAP50-95']) for s in '01']).fmt()} |" in \
        (root / "ablation.md").read_text()


def test_pretrained_start_for_every_cfg_and_compared_with_scratch(ablation, tmp_path, capsys):
    root, argv = ablation
    start = root / "runs" / "yolo_base-s0" / "weights" / "last.pt"
    argv = list(argv)
    argv = argv[:argv.index("--cfgs") + 1] + [CFGS[0]] + argv[argv.index("--data"):argv.index("--seeds")] + \
        ["--seeds", "0", "--weights", str(start), "--workers", "0", "--latency-runs", "1", "--max-batches", "1", "--project", str(tmp_path), "--name", "ft"]
    assert ablate.main(argv) == 0
    assert "transferred" in capsys.readouterr().out.lower()  # the transfer report of --weights
    args = json.loads((tmp_path / "ft" / "runs" / "yolo_base-s0" / "args.json").read_text())
    assert args["train"]["weights"] == str(start)
    assert f"--weights {start}" in (tmp_path / "ft" / "ablation.md").read_text()
    md = compare([root, tmp_path / "ft"])
    assert f"weights None -> '{start}'" in md and "| yolo_base |" in md


def test_fine_tuning_recipe_flags_reach_every_run_and_the_recipe_check(ablation, tmp_path, capsys):
    root, argv = ablation
    start = root / "runs" / "yolo_base-s0" / "weights" / "last.pt"
    argv = list(argv)
    base = argv[:argv.index("--cfgs") + 1] + [CFGS[0]] + argv[argv.index("--data"):argv.index("--seeds")] + \
        ["--seeds", "0", "--weights", str(start), "--workers", "0", "--latency-runs", "1", "--max-batches", "1",
         "--project", str(tmp_path), "--name", "ft"]
    assert ablate.main([*base, "--optimizer", "AdamW", "--freeze", "2"]) == 0
    out = capsys.readouterr().out
    assert "--freeze 2: layers 0-1 frozen" in out
    args = json.loads((tmp_path / "ft" / "runs" / "yolo_base-s0" / "args.json").read_text())
    assert args["train"]["optimizer"] == "AdamW" and args["train"]["freeze"] == 2
    assert "--optimizer AdamW --freeze 2" in (tmp_path / "ft" / "ablation.md").read_text()
    assert ablate.main(base) == 2  # the defaults (SGD, nothing frozen) are another recipe
    assert re.search(r"another recipe .*freeze.*optimizer", capsys.readouterr().err)
    recipe = json.loads((root / "recipe.json").read_text())
    assert "optimizer" in recipe and "freeze" in recipe
    old = {k: v for k, v in recipe.items() if k not in ("optimizer", "freeze")}  # a project from before the flags
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "recipe.json").write_text(json.dumps(old))
    from detector.ablation.runner import _check_recipe
    _check_recipe(tmp_path / "old", ablate.parse(list(argv)))  # read as SGD with nothing frozen: the same recipe
    with pytest.raises(ValueError, match="another recipe .*optimizer"):
        _check_recipe(tmp_path / "old", ablate.parse([*argv, "--optimizer", "AdamW"]))


def test_iou_sweep_and_crowd_table(ablation, capsys):
    """--nms-iou evaluates every method at every threshold (columns method@iou, each equal to that
    evaluation's own metrics.json); the crowd table picks each method's best threshold by mean AP50."""
    from detector.ablation.report import best_iou

    root, argv = ablation
    argv = [a for a in argv if a != "--yolo"]
    argv = argv[:argv.index("--peers")] + argv[argv.index("--project"):] + ["--rescore", "--nms-iou", "0.5", "0.7"]
    assert ablate.main(argv) == 0
    rows = [r for r in _rows(root) if r["source"] == "ours"]
    for r in rows:
        for key in ("greedy@0.5", "greedy@0.7", "adaptive@0.5", "adaptive@0.7"):
            m = json.loads((root / "runs" / f"{r['model']}-s{r['seed']}" / "eval" / key / "metrics.json").read_text())
            assert float(r[f"{key}:mAP50"]) == pytest.approx(m["mAP50"], abs=1e-6)
            assert f"{key}:MR-2" in r and f"{key}:recall50[0.5-0.7]" in r
    # the sweep post-processes one model pass: each variant scores as a separate evaluation with its settings
    from detector.eval import ValConfig, evaluate

    r0 = rows[0]
    run = root / "runs" / f"{r0['model']}-s{r0['seed']}"
    alone = evaluate(ValConfig(weights=str(run / "weights" / "last.pt"), data=argv[argv.index("--data") + 1], img=64,
                               batch=4, nms="adaptive", iou_thres=0.5, workers=0, plots=False, device="cpu"),
                     run / "alone")
    for k in ("mAP50-95", "mAP50", "recall50", "MR-2"):
        assert float(r0[f"adaptive@0.5:{k}"]) == pytest.approx(alone[k], abs=1e-6, nan_ok=True)
    typed = [{k: (float(v) if ":" in k and v not in ("", "nan") else v) for k, v in r.items()} for r in rows]
    md = (root / "ablation.md").read_text()
    assert "--nms-iou 0.5 0.7" in md and "best IoU" in md
    for model in ("yolo_base", "yolo_ca_bifpn"):
        means = {t: sum(r[f"greedy@{t}:mAP50"] for r in typed if r["model"] == model) / 2 for t in ("0.5", "0.7")}
        t = best_iou(typed, model, "greedy", [0.5, 0.7])
        assert means[f"{t:g}"] == max(means.values())
        assert f"| {model} | greedy | {t:g} |" in md


def test_main_table_shows_a_peer_with_its_own_nms_when_ours_leads_with_another():
    """The first --nms method (e.g. adaptive_soft@0.7) is ours; a peer only has its own greedy NMS at the same
    IoU: its row shows those figures, named so, instead of an empty row."""
    from detector.ablation.report import table

    rows = [{"model": "ours", "seed": s, "adaptive_soft@0.7:mAP50-95": 0.15 + s / 100, "adaptive_soft@0.7:mAP50": 0.4,
             "adaptive_soft@0.7:crowded_recall50": 0.9, "greedy@0.7:mAP50-95": 0.14} for s in (0, 1)]
    rows += [{"model": "yolo11n", "seed": s, "greedy@0.7:mAP50-95": 0.10, "greedy@0.7:mAP50": 0.3,
              "greedy@0.7:crowded_recall50": 0.8, "greedy@0.5:mAP50-95": 0.09} for s in (0, 1)]
    md = table(rows, {}, ["ours", "yolo11n"], "adaptive_soft@0.7")
    peer = next(line for line in md.splitlines() if line.startswith("| yolo11n"))
    assert peer.startswith("| yolo11n (its own greedy@0.7) | 2 | 0.1000") and "higher in 0/2 seeds" in peer
    ours = next(line for line in md.splitlines() if line.startswith("| ours"))
    assert ours.startswith("| ours | 2 | 0.1550")
