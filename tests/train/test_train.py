"""Training end to end on tiny synthetic data, overfitting, resume after SIGKILL, DDP on CPU."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from detector import build_model
from detector.checkpoint import load_checkpoint
from detector.train import Trainer, TrainConfig
from detector.loss import DetectionLoss

from ..conftest import CFG_DIR, ROOT


def test_two_epoch_run_writes_outputs(tiny_data, tmp_path):
    cfg = TrainConfig(cfg=str(CFG_DIR / "yolo_ca_bifpn.yaml"), data=str(tiny_data), epochs=2, batch=8, img=96,
                      workers=0, project=str(tmp_path), name="run")
    Trainer(cfg).train()
    run = tmp_path / "run"
    for f in ["weights/last.pt", "weights/best.pt", "results.csv", "results.png", "train_batch0.jpg",
              "labels_report.json", "args.json"]:
        assert (run / f).is_file(), f
    rows = list(csv.DictReader(open(run / "results.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"metrics/mAP50-95", "train/box_loss", "fusion/max_weight_mean", "lr/pg0", "time", "val_time"} <= set(rows[0])
    assert float(rows[0]["val_time"]) > 0
    ck = load_checkpoint(run / "weights" / "last.pt")
    assert ck["epoch"] == 1 and ck["names"] == ["circle", "square", "triangle", "star"]
    assert ck["model_cfg"]["nc"] == 4 and ck["cat_ids"] == [1, 2, 3, 4]
    assert any(k.startswith("events.out.tfevents") for k in os.listdir(run))  # TensorBoard events


@pytest.mark.parametrize("channels_last", [True, False])
def test_setup_channels_last_and_cache(tiny_data, tmp_path, channels_last):
    """--channels-last (the default) puts model and EMA in NHWC; either way the weights load into a
    freshly built (contiguous) model and give the same outputs. --cache fills both image caches
    during setup, before any DataLoader worker starts."""
    cfg = TrainConfig(cfg=str(CFG_DIR / "yolo_ca_bifpn.yaml"), data=str(tiny_data), epochs=1, batch=8, img=96,
                      workers=0, project=str(tmp_path), name="run", channels_last=channels_last, cache=True,
                      device="cpu")  # the comparison below is exact on CPU (CUDA convs run in TF32)
    tr = Trainer(cfg)
    tr.setup()
    assert len(tr.train_ds._cache) == len(tr.train_ds) == 24 and len(tr.val_ds._cache) == len(tr.val_ds) == 8
    w = [p for p in tr.model.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1]
    assert all(p.is_contiguous(memory_format=torch.channels_last) == channels_last for p in w)
    assert all(p.is_contiguous() != channels_last for p in w)
    ema_w = [p for p in tr.ema.ema.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1]
    assert all(p.is_contiguous(memory_format=torch.channels_last) == channels_last for p in ema_w)
    fresh = build_model(tr.model.yaml).eval()
    fresh.load_state_dict(tr.ema.ema.state_dict())
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        for a, b in zip(fresh(x), tr.ema.ema.eval()(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_cache_modes(tiny_data, tmp_path, monkeypatch, capsys):
    """--cache auto (default) caches a small set and says how to turn it off; above its limit it
    reads from disk and says so; none never caches; a bad value is a clear error."""
    import detector.train.trainer as trainer_mod

    def setup(cache, name):
        tr = Trainer(TrainConfig(cfg=str(CFG_DIR / "yolo_ca_bifpn.yaml"), data=str(tiny_data), epochs=1, batch=8,
                                 img=96, workers=0, project=str(tmp_path), name=name, cache=cache))
        tr.setup()
        return tr

    assert TrainConfig().cache == "auto"
    tr = setup("auto", "a")
    assert len(tr.train_ds._cache) == 24 and len(tr.val_ds._cache) == 8
    assert "--cache none to turn off" in capsys.readouterr().out
    tr = setup("none", "n")
    assert not tr.train_ds._cache and not tr.val_ds._cache
    monkeypatch.setattr(trainer_mod, "CACHE_AUTO", dict(max_bytes=1000, max_fraction=0.1))
    tr = setup("auto", "big")
    assert not tr.train_ds._cache
    assert "above the --cache auto limit" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--cache must be one of"):
        setup("disk", "d")


def test_overfit_fixed_batch():
    """Loss on one fixed batch drops at least 5x."""
    torch.manual_seed(0)
    model = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=2)
    crit = DetectionLoss(model.stride, 2)
    x = torch.rand(2, 3, 64, 64)
    # image 0: an overlapping same-class pair (IoU 0.6, density 0.6) and an isolated box (density 0)
    t = torch.tensor([[0, 0, 8, 8, 40, 40], [0, 0, 8, 16, 40, 48], [0, 1, 44, 4, 62, 30], [1, 1, 4, 10, 30, 50]],
                     dtype=torch.float)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = None
    for step in range(120):
        loss, items = crit(model(x), t)
        if first is None:
            first = loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 5, (first, loss.item())


def _train_cmd(data, project, name, epochs, *extra):
    return [sys.executable, str(ROOT / "tools" / "train.py"), "--cfg", str(CFG_DIR / "yolo_ca_bifpn.yaml"),
            "--data", str(data), "--epochs", str(epochs), "--batch", "4", "--img", "64", "--workers", "0",
            "--device", "cpu", "--deterministic", "--project", str(project), "--name", name, "--no-plots", *extra]


def test_resume_after_sigkill_matches_uninterrupted(tiny_data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = subprocess.run(_train_cmd(tiny_data, tmp_path, "full", 4), capture_output=True, text=True, env=env)
    assert full.returncode == 0, full.stderr[-2000:]
    p = subprocess.Popen(_train_cmd(tiny_data, tmp_path, "cut", 4), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    last = tmp_path / "cut" / "weights" / "last.pt"
    deadline = time.time() + 300
    while time.time() < deadline:
        if last.is_file() and torch.load(last, weights_only=True)["epoch"] >= 1:
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = load_checkpoint(last)["epoch"]
    assert killed_at < 3, "the run finished before it could be killed"
    r = subprocess.run(_train_cmd(tiny_data, tmp_path, "cut", 4)[:2] + ["--resume", str(last), "--device", "cpu",
                                                                        "--workers", "0"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resuming from {last} at epoch {killed_at + 2}/4" in r.stdout
    a = load_checkpoint(tmp_path / "full" / "weights" / "last.pt")
    b = load_checkpoint(last)
    assert a["epoch"] == b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k in a["ema"]:
        assert torch.equal(a["ema"][k], b["ema"][k]), k


def test_bad_checkpoints_fail_clearly(tmp_path, tiny_data):
    good = tmp_path / "good.pt"
    from detector.checkpoint import CheckpointError, save_checkpoint
    save_checkpoint(good, {"model": {}, "epoch": 0})
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(trunc)

    class Evil:
        def __reduce__(self):
            return (print, ("executed!",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "detector-checkpoint-v1", "x": Evil()}, evil)
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(evil)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a detector checkpoint"):
        load_checkpoint(other)
    # a checkpoint of another architecture
    from detector.checkpoint import model_from_checkpoint
    m = build_model(CFG_DIR / "yolo_base.yaml", nc=4)
    ck = {"model": m.state_dict(), "model_cfg": build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=4).yaml}
    with pytest.raises(CheckpointError, match="do not fit this architecture"):
        model_from_checkpoint(ck, "x.pt", use_ema=False)
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "--resume", str(trunc)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "truncated or corrupt" in r.stderr and "Traceback" not in r.stderr



def _density_error(model, crit, x, t):
    """Mean |sigmoid(density) - target| over the positive locations the assigner picks."""
    from detector.loss.density import density_targets
    from detector.loss.detection_loss import pad_targets
    from detector.ops.decode import (dfl_to_distance, distance_to_xyxy, flatten_levels, make_anchors,
                                     split_outputs)
    with torch.no_grad():
        raw = model(x)
        box, cls, dens = split_outputs(flatten_levels(raw), 16)
        pts, st = make_anchors([r.shape[-2:] for r in raw], model.stride)
        pd = distance_to_xyxy(dfl_to_distance(box, 16), pts) * st
        gt, mask = pad_targets(t, x.shape[0], 5)
        _, _, _, fg, gt_idx, _ = crit.assigner(cls.sigmoid(), pd, pts * st, gt[..., 0].long(), gt[..., 1:], mask)
        d_t = density_targets(gt[..., 1:], mask).gather(1, gt_idx)[fg]
        return (dens[..., 0][fg].sigmoid() - d_t).abs().mean().item(), d_t


def test_density_branch_learns_with_sgd():
    """With the training optimizer (SGD, lr 0.01) the predicted density at positive locations
    approaches its targets (0.6 for a crowded pair, 0 for an isolated box) on a fixed batch."""
    torch.manual_seed(0)
    model = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=1)
    crit = DetectionLoss(model.stride, 1)
    x = torch.rand(1, 3, 64, 64)
    t = torch.tensor([[0, 0, 8, 8, 40, 40], [0, 0, 8, 16, 40, 48], [0, 0, 44, 4, 62, 30]],
                     dtype=torch.float)  # IoU 0.6 pair + isolated
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.937, nesterov=True)
    before, d_t = _density_error(model.eval(), crit, x, t)
    model.train()
    for _ in range(150):
        loss, items = crit(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after, _ = _density_error(model.eval(), crit, x, t)
    assert (d_t > 0.5).any() and (d_t == 0).any()
    assert after < 0.7 * before, (before, after)  # weighting by alignment scores gave 0.94 here


def test_resume_after_the_data_classes_changed_is_refused(tiny_data, tmp_path):
    """--resume after the data YAML changed its classes: exit 2 with a sentence naming both sides, not a
    checkpoint whose names and class count disagree."""
    from detector.checkpoint import save_checkpoint

    data = tmp_path / "d.yaml"
    data.write_text(tiny_data.read_text())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(_train_cmd(data, tmp_path, "run", 1), capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    last = tmp_path / "run" / "weights" / "last.pt"
    ck = load_checkpoint(last)
    ck["train_cfg"]["epochs"] = 3  # as if stopped after its first of 3 epochs
    save_checkpoint(last, ck)
    names = ck["names"]
    data.write_text(tiny_data.read_text() + f"classes: [{names[1]}]\n")  # the YAML now keeps one class
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "--resume", str(last), "--workers", "0"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert f"trained on {len(names)} classes" in r.stderr and "now has 1" in r.stderr and "--weights" in r.stderr


def test_sigterm_says_how_to_resume_and_keeps_last_pt(tiny_data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(_train_cmd(tiny_data, tmp_path, "t", 30), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    last = tmp_path / "t" / "weights" / "last.pt"
    deadline = time.time() + 300
    while time.time() < deadline and not last.is_file():
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err[-2000:]
    assert "terminated (SIGTERM): stopped in epoch " in err and "Traceback" not in err
    assert f"resume with --resume {last}" in err  # where the run is, and the command that goes on
    assert load_checkpoint(last)["epoch"] >= 0  # whole and loadable


def test_interrupted_before_an_epoch_finished_says_nothing_was_saved(tmp_path):
    from detector.train import TrainConfig, Trainer

    t = Trainer.__new__(Trainer)  # only the state where_stopped() reads
    t.save_dir, t.cfg, t.epoch, t.batch_i, t.n_batches = tmp_path, TrainConfig(epochs=5), 0, 6, 10
    assert t.where_stopped() == ("stopped in epoch 1/5 at batch 7/10; no epoch finished, so nothing was saved: "
                                 "run the same command again")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "last.pt").write_bytes(b"x")
    t.epoch = 3
    assert t.where_stopped().startswith("stopped in epoch 4/5 at batch 7/10; ")
    assert t.where_stopped().endswith(f"resume with --resume {tmp_path / 'weights' / 'last.pt'}")


def test_a_swallowed_sigterm_still_stops_at_the_next_step(tiny_data, tmp_path):
    """The SIGTERM handler also records the request: if an extension clears the exception it raised, the
    trainer raises it at its next step instead of training on to the end."""
    from detector.train import TrainConfig, Trainer
    from detector.utils import stop

    t = Trainer(TrainConfig(cfg="cfg/yolo_ca_bifpn.yaml", data=str(tiny_data), epochs=2, batch=4, img=64, workers=0,
                            project=str(tmp_path), name="s", scale="n", max_batches=2, plots=False))
    stop.request()
    try:
        with pytest.raises(stop.Terminated):
            t.train()
    finally:
        stop.clear()
    assert not (tmp_path / "s" / "weights" / "last.pt").exists()  # stopped before the first epoch ended
    stop.check()  # raised once: the request is spent

def test_val_slice_validates_each_epoch_as_val_py_slice(tiny_data, tmp_path):
    """--val-slice: the per-epoch validation is sliced inference (tiles + whole image, merged by the NMS), the
    same figures val.py --slice gives for the saved EMA weights."""
    from detector.eval import ValConfig, evaluate

    cfg = TrainConfig(cfg=str(CFG_DIR / "yolo_ca_bifpn.yaml"), data=str(tiny_data), epochs=1, batch=8, img=96,
                      workers=0, project=str(tmp_path), name="run", plots=False, val_slice=64, max_batches=2)
    t = Trainer(cfg)
    t.train()
    assert t.metrics["slice"] == {"size": 64, "overlap": 0.2, "full": True, "img": None}
    assert t.metrics["images"] == 8
    ours = t.evaluator.predictions_json()
    m = evaluate(ValConfig(weights=str(tmp_path / "run" / "weights" / "last.pt"), data=str(tiny_data), img=96,
                           batch=8, device="cpu", slice=64, plots=False, nms=t.nms), tmp_path / "v")
    for k in ("mAP50-95", "mAP50", "AR100"):
        assert m[k] == pytest.approx(t.metrics[k], abs=2e-3), k
    theirs = json.loads((tmp_path / "v" / "predictions.json").read_text())
    assert len(ours) > 8 and abs(len(ours) - len(theirs)) <= len(theirs) // 50  # (val.py fuses conv + BN)
    best = {}
    for r in theirs:
        best[r["image_id"]] = max(best.get(r["image_id"], 0.0), r["score"])
    for r in ours:
        assert r["score"] <= best[r["image_id"]] + 1e-3
