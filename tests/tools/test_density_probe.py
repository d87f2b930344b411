"""tools/density_probe.py: the refit trains the density readout alone; the measurement covers every positive."""
import torch

from detector.data import index_split, load_data_config
from detector.engine.checkpoint import load_checkpoint, model_from_checkpoint
from detector.engine.hyp import load_hyp
from detector.loss.detection_loss import DetectionLoss

from .conftest import tool


def test_refit_changes_only_the_density_readout(small_ckpt, tiny_data):
    probe = tool("density_probe")
    model = model_from_checkpoint(load_checkpoint(small_ckpt), str(small_ckpt))
    probe.fresh_readout(model.head, "own", 16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hyp = load_hyp(None)
    loss = DetectionLoss.from_hyp(hyp, model.stride, model.nc, model.head.reg_max)
    recs = index_split(load_data_config(tiny_data), "train").records[:8]
    probe.fit_readout(model, loss, recs, 96, 4, 1, 1e-2, hyp, 0)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".density_pred." in k for k in changed)  # boxes, classes and BN statistics untouched
    assert any(k.endswith(".weight") for k in changed)

    r = probe.measure(model, loss, recs, 96, 4)
    counts = [v[0] for v in r.values() if isinstance(v, tuple)]
    assert r["positives"] > 0 and sum(counts) == r["positives"]
    assert 0.0 <= r["mean_pred"] <= 1.0 and 0.0 <= r["mean_target"] <= 1.0


def test_cli_prints_both_splits(small_ckpt, tiny_data, capsys):
    tool("density_probe").main(["--weights", str(small_ckpt), "--data", str(tiny_data), "--img", "96",
                                "--batch", "4", "--images", "4", "--workers", "0"])
    out = capsys.readouterr().out
    assert "\ntrain " in out and "\nval " in out
