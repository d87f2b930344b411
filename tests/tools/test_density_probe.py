"""tools/density_probe.py: the refit trains the density readout alone; the measurement covers every positive."""
import torch

from detector.data import index_split, load_data_config
from detector.checkpoint import load_checkpoint, model_from_checkpoint
from detector.train.hyp import load_hyp
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


def test_cli_prints_what_measure_finds_on_each_split(small_ckpt, tiny_data, capsys):
    """The CLI's table holds, for the first --images images of each split, the numbers measure() gives."""
    probe = tool("density_probe")
    probe.main(["--weights", str(small_ckpt), "--data", str(tiny_data), "--img", "96", "--batch", "4", "--images", "4",
                "--workers", "0"])
    out = capsys.readouterr().out.splitlines()
    model = model_from_checkpoint(load_checkpoint(small_ckpt), str(small_ckpt))
    hyp = load_hyp(None)
    loss = DetectionLoss.from_hyp(hyp, model.stride, model.nc, model.head.reg_max)
    for split in ("train", "val"):
        r = probe.measure(model, loss, index_split(load_data_config(tiny_data), split).records[:4], 96, 4)
        row = next(ln for ln in out if ln.startswith(f"{split:5s}  ")).split()
        assert row[1:6] == [str(r["positives"]), f"{r['corr']:.3f}", f"{r['mean_pred']:.3f}", "/",
                            f"{r['mean_target']:.3f}"]
        assert r["positives"] > 0


def test_separation_hand_computed():
    import numpy as np

    sep = tool("density_probe").separation
    t = np.array([0.8, 0.8, 0.6, 0.6, 0.4, 0.0, 0.0, 0.0])  # crowded mean 0.7: the floor needs TPR >= 0.6
    p = np.array([0.9, 0.5, 0.3, 0.3, 0.7, 0.3, 0.2, 0.1])
    r = sep(p, t)
    # crowded vs rest: 4 x 4 pairs; wins 0.9 > all 4, 0.5 > 3, each 0.3 > 2 and ties 1 (half): 4+3+2.5+2.5 = 12
    assert r["auc_rest"] == 12 / 16
    assert r["auc_isolated"] == (3 + 3 + 2.5 + 2.5) / 12
    # the step must pass 2.4 of the 4 crowded: all above 0.3 (2) and 0.4 of the two tied at 0.3, i.e. a fraction
    # 0.2 of each value 0.3; of the rest 0.7 passes and 0.2 of its 0.3: 1.2 / 4; of the isolated 0.2 / 3
    assert abs(r["floor_rest"] - 1.2 / 4) < 1e-12 and abs(r["floor_isolated"] - 0.2 / 3) < 1e-12
    perfect = sep(t.copy(), t)
    assert perfect["auc_rest"] == 1.0 and perfect["floor_rest"] == 0.0
    assert np.isnan(sep(p[:2], t[:2])["auc_rest"])  # no rest: nothing to compare


def test_calibrate_folds_into_the_readout_and_keeps_the_boxes(small_ckpt, tiny_data, tmp_path):
    probe = tool("density_probe")
    model = model_from_checkpoint(load_checkpoint(small_ckpt), str(small_ckpt)).eval()
    loss = DetectionLoss.from_hyp(load_hyp(None), model.stride, model.nc, model.head.reg_max)
    recs = index_split(load_data_config(tiny_data), "train").records[:8]
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        before = model(x)
    p, t = probe.collect(model, loss, recs, 96, 4)
    t = torch.where(torch.arange(len(t)) % 3 == 0, torch.tensor(0.8), torch.tensor(0.05))  # a known split
    a, b = probe.calibrate(model, p, t)
    with torch.no_grad():
        after = model(x)
    d0, d1 = (model.head.decode(r) for r in (before, after))
    assert torch.equal(d0[..., :-1], d1[..., :-1])  # boxes and class scores untouched
    for r0, r1 in zip(before, after):  # the density logit (last channel) mapped by a * z + b
        torch.testing.assert_close(r1[:, -1].double(), a * r0[:, -1].double() + b, rtol=1e-4, atol=1e-4 * (1 + abs(b)))

    p2, t2 = torch.tensor([0.6, 0.7, 0.65, 0.3, 0.35, 0.4]), torch.tensor([0.8, 0.7, 0.9, 0.05, 0.0, 0.1])
    a2, b2 = probe.calibrate(model, p2, t2)  # separable: both means land on their targets
    q = torch.sigmoid(a2 * torch.logit(p2.double()) + b2)
    assert abs(q[:3].mean() - 0.8) < 1e-3 and abs(q[3:].mean() - 0.05) < 1e-3 and a2 > 1

    out = tmp_path / "cal.pt"
    probe.main(["--weights", str(small_ckpt), "--data", str(tiny_data), "--img", "96", "--batch", "4",
                "--images", "4", "--workers", "0", "--calibrate", "--save", str(out)])
    reloaded = model_from_checkpoint(load_checkpoint(out), str(out))  # a checkpoint our tools load
    assert set(reloaded.state_dict()) == set(model.state_dict())


def test_separation_ties_at_the_step_pass_a_fraction():
    import numpy as np

    t = np.array([0.6, 0.6, 0.6, 0.6, 0.0, 0.0])  # crowded mean 0.6: the step must pass 2 of the 4 crowded
    p = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])  # saturated: all crowded and one isolated tie at 1
    r = tool("density_probe").separation(p, t)
    assert r["floor_rest"] == 0.5 * 1 / 2  # half the tie passes: half of the one tied isolated, of two
    assert r["auc_rest"] == (4 * 1 + 4 * 0.5) / 8
